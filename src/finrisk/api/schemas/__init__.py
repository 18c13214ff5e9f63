"""HTTP shapes (pydantic): the OpenAPI contract. Only the API imports these."""
