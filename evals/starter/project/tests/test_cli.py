from textkit.cli import main, summary


def test_summary_lines():
    lines = summary("One two. Three four five!").splitlines()
    assert "words: 5" in lines
    assert "sentences: 2" in lines
    assert "average word length: 3.8" in lines


def test_main_reads_a_file(tmp_path, capsys):
    path = tmp_path / "text.txt"
    path.write_text("Hello there.")
    assert main([str(path)]) == 0
    assert "words: 2" in capsys.readouterr().out


def test_main_says_when_the_file_is_missing(tmp_path, capsys):
    assert main([str(tmp_path / "nope.txt")]) == 1
    assert "nope.txt" in capsys.readouterr().err


def test_main_needs_one_argument(capsys):
    assert main([]) == 2
