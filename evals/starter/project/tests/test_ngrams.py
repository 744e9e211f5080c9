import pytest

from textkit.ngrams import bigrams, ngrams


def test_ngrams_of_tokens():
    assert ngrams(["a", "b", "c", "d"], 3) == [("a", "b", "c"), ("b", "c", "d")]


def test_unigrams():
    assert ngrams(["x", "y"], 1) == [("x",), ("y",)]


def test_too_few_tokens_give_nothing():
    assert ngrams(["a", "b"], 3) == []


def test_n_must_be_positive():
    with pytest.raises(ValueError, match="n"):
        ngrams(["a"], 0)


def test_bigrams_of_a_text_are_lowercase_word_pairs():
    assert bigrams("The cat sat") == [("the", "cat"), ("cat", "sat")]
