"""IBM AMLSim data for scoring the graph detectors: loading every layout, patterns per account, test variants.

``load_amlsim`` reads a .tgz or directory in any AMLSim layout (``layouts``); ``attribute_patterns`` says which
pattern each labelled account is (``patterns``: the data's labels, else a documented attribution that never
looks at detector output); ``node_scores`` / ``pattern_scores`` count node-level precision and recall
(``scoring``); ``recall_ceiling`` / ``evidence_classes`` say what recall the data allows (``ceiling``, labels
only counted); ``variants`` builds mixed and one-transfer-per-hop samples at test time.
"""

from finrisk.graph.amlsim.ceiling import evidence_classes, recall_ceiling
from finrisk.graph.amlsim.layouts import AmlSimSample, load_amlsim
from finrisk.graph.amlsim.patterns import Attribution, attribute_patterns, normalise_pattern, patterns_in_metadata
from finrisk.graph.amlsim.scoring import node_scores, pattern_scores
from finrisk.graph.amlsim.variants import LAYOUTS, one_transfer_per_hop, union_samples, write_sample

__all__ = ["LAYOUTS", "AmlSimSample", "Attribution", "attribute_patterns", "evidence_classes", "load_amlsim",
           "node_scores", "normalise_pattern", "one_transfer_per_hop", "pattern_scores", "patterns_in_metadata",
           "recall_ceiling", "union_samples", "write_sample"]
