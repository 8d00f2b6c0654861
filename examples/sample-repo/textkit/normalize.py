"""Whitespace and case normalisation."""


def normalize(text: str) -> str:
    """Collapse runs of whitespace to one space, strip the ends, lowercase."""
    return " ".join(text.split()).lower()
