from textkit.stats import average_word_length, sentence_count, word_count


def test_word_count():
    assert word_count("one two  three\nfour") == 4
    assert word_count("") == 0


def test_sentence_count():
    assert sentence_count("One. Two! Three?") == 3
    assert sentence_count("No ending here") == 1
    assert sentence_count("Wait... what?!") == 2
    assert sentence_count("") == 0


def test_average_word_length():
    assert average_word_length("ab abcd") == 3.0
    assert average_word_length("hi, you!") == 2.5
    assert average_word_length("") == 0.0
