"""Secrets are known by the roster's names and by key-like names, and redacted by value."""

from gastown.town.secrets import REDACTED, Secrets, looks_secret


def test_key_like_names_are_secret_and_names_that_only_contain_such_a_word_are_not():
    secret = ("OPENAI_API_KEY", "GEMINI_APIKEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "MYKEY")
    for name in (*secret, "PGPASSWORD", "MYSQL_PWD", "NPM_AUTH", "GITLAB_AUTH"):
        assert looks_secret(name), name
    for name in (
        "GIT_AUTHOR_NAME",
        "SSH_AUTH_SOCK",
        "KEYBOARD_LAYOUT",
        "PATH",
        "HOME",
        "TOKENIZERS_PARALLELISM",
        "PWD",
    ):
        assert not looks_secret(name), name


def test_the_rosters_variable_is_secret_whatever_its_name_and_is_redacted_by_value():
    env = {"BEATSCORE_CLOUD": "cloud-123456", "OPENAI_API_KEY": "sk-abcdef", "PATH": "/usr/bin", "N": "1"}
    secrets = Secrets.of(env, ["BEATSCORE_CLOUD", "UNSET_ONE"])
    assert secrets.values == ("cloud-123456", "sk-abcdef")  # longest first: a key inside another stays hidden
    text = "key=cloud-123456 other=sk-abcdef path=/usr/bin n=1"
    assert secrets.redact(text) == f"key={REDACTED} other={REDACTED} path=/usr/bin n=1"


def test_a_child_gets_neither_the_secret_variables_nor_a_copy_of_a_secret_under_another_name():
    env = {"BEATSCORE_CLOUD": "cloud-123456", "COPIED": "cloud-123456", "SSH_AUTH_SOCK": "/tmp/s", "X_TOKEN": "t"}
    assert Secrets.of(env, ["BEATSCORE_CLOUD"]).strip(env) == {"SSH_AUTH_SOCK": "/tmp/s"}


def test_short_values_are_not_redacted_from_ordinary_text():
    assert Secrets.of({"API_KEY": "abc"}).redact("abc def") == "abc def"
