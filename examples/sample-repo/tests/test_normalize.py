from textkit.normalize import normalize


def test_normalize_collapses_whitespace_and_case():
    assert normalize("  Hello\n  World ") == "hello world"
