"""Plans: the model, one parser per format, validation and scheduling. Pure Python + pydantic."""
