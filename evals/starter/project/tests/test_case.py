from textkit.case import camel_case, kebab_case, pascal_case, snake_case, words


def test_words_split_acronyms_and_digits():
    assert words("HTTPServer error_code 404") == ["HTTP", "Server", "error", "code", "404"]


def test_snake_case():
    assert snake_case("HTTPServer error") == "http_server_error"
    assert snake_case("already_snake") == "already_snake"


def test_kebab_case():
    assert kebab_case("Hello World") == "hello-world"


def test_pascal_case():
    assert pascal_case("http server error") == "HttpServerError"


def test_camel_case_of_lowercase_words():
    assert camel_case("http server error") == "httpServerError"


def test_camel_case_lowercases_the_first_word():
    assert camel_case("Hello World") == "helloWorld"
    assert camel_case("HTTP server") == "httpServer"


def test_camel_case_of_nothing():
    assert camel_case("") == ""
    assert camel_case("  --  ") == ""
