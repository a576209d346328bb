/// The embedded sample project: `textkit`, a tiny Python package with a real pytest suite.
///
/// Each pull request in `SampleHistory` changes these files; every "fix" is a real bug fix whose
/// new test fails before the fix and passes after it, so the sample exercises the whole pipeline.
public enum SampleFiles {
    static let pyproject = pythonProject(name: "textkit", description: "Small text utilities (Forge's embedded sample project)")

    /// A setuptools `pyproject.toml` for package `name`, its tests run with pytest: the sample's,
    /// and the test fixtures' (which vary the name and version).
    public static func pythonProject(name: String, version: String = "0.1.0", description: String? = nil) -> String {
        """
        [project]
        name = "\(name)"
        version = "\(version)"
        \(description.map { "description = \"\($0)\"\n" } ?? "")requires-python = ">=3.8"

        [project.optional-dependencies]
        test = ["pytest"]

        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [tool.setuptools]
        packages = ["\(name)"]

        """
    }

    static let readme = """
    # textkit

    Small text utilities: `slugify`, `wrap`, `parse_duration`, `word_count`, `top_words`.

    Run the tests with `python -m pytest`.

    """

    static func initModule(version: String) -> String {
        """
        \"\"\"textkit: small text utilities (Forge's embedded sample project).\"\"\"
        __version__ = "\(version)"

        from .slug import slugify
        from .wrap import wrap
        from .duration import parse_duration
        from .stats import word_count, top_words

        __all__ = ["slugify", "wrap", "parse_duration", "word_count", "top_words"]

        """
    }

    // MARK: slugify — PR #1 collapses runs of separators ("Hello, World!" gave "hello--world").

    static let slugBuggy = """
    import re
    import unicodedata


    def slugify(text, sep="-"):
        \"\"\"Lowercase ASCII slug of text: 'Hello World' -> 'hello-world'.\"\"\"
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        words = re.split(r"[^a-z0-9]", ascii_text.lower())
        return sep.join(words).strip(sep)

    """

    static let slugFixed = """
    import re
    import unicodedata


    def slugify(text, sep="-"):
        \"\"\"Lowercase ASCII slug of text: 'Hello, World!' -> 'hello-world'.\"\"\"
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        words = re.split(r"[^a-z0-9]+", ascii_text.lower())
        return sep.join(word for word in words if word)

    """

    static let slugTests = """
    from textkit import slugify


    def test_single_word():
        assert slugify("Hello") == "hello"


    def test_accents_are_dropped():
        assert slugify("Café") == "cafe"


    def test_custom_separator():
        assert slugify("a b", sep="_") == "a_b"

    """

    static let slugTestsAfterPR1 = slugTests + """


    def test_punctuation_collapses():
        assert slugify("Hello, World!") == "hello-world"


    def test_surrounding_spaces():
        assert slugify("  spaced   out  ") == "spaced-out"

    """

    // MARK: wrap — PR #2 (squash) makes empty text wrap to no lines instead of raising IndexError.

    static let wrapBuggy = """
    def wrap(text, width=70):
        \"\"\"Greedy word wrap: lines no longer than width unless a single word is longer.\"\"\"
        if width < 1:
            raise ValueError("width must be at least 1")
        words = text.split()
        lines = [words[0]]
        for word in words[1:]:
            if len(lines[-1]) + 1 + len(word) <= width:
                lines[-1] += " " + word
            else:
                lines.append(word)
        return lines

    """

    static let wrapFixed = """
    def wrap(text, width=70):
        \"\"\"Greedy word wrap: lines no longer than width unless a single word is longer.\"\"\"
        if width < 1:
            raise ValueError("width must be at least 1")
        words = text.split()
        if not words:
            return []
        lines = [words[0]]
        for word in words[1:]:
            if len(lines[-1]) + 1 + len(word) <= width:
                lines[-1] += " " + word
            else:
                lines.append(word)
        return lines

    """

    static let wrapTests = """
    import pytest

    from textkit import wrap


    def test_wraps_at_width():
        assert wrap("the quick brown fox", width=10) == ["the quick", "brown fox"]


    def test_long_word_kept_whole():
        assert wrap("extraordinarily long", width=5) == ["extraordinarily", "long"]


    def test_width_must_be_positive():
        with pytest.raises(ValueError):
            wrap("a", width=0)

    """

    static let wrapTestsAfterPR2 = wrapTests + """


    def test_empty_text_has_no_lines():
        assert wrap("") == []


    def test_blank_text_has_no_lines():
        assert wrap("   \\n  ") == []

    """

    // MARK: parse_duration — PR #3 (rebase) rejects trailing garbage ("1h30x" parsed as 3600).

    static let durationBuggy = """
    import re

    _UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    _PART = re.compile(r"(\\d+)([smhd])")


    def parse_duration(text):
        \"\"\"'1h30m' -> 5400 seconds; raises ValueError for anything else.\"\"\"
        text = text.strip().lower()
        if not text:
            raise ValueError("empty duration")
        total = 0
        position = 0
        for match in _PART.finditer(text):
            if match.start() != position:
                raise ValueError(f"bad duration: {text!r}")
            total += int(match.group(1)) * _UNITS[match.group(2)]
            position = match.end()
        return total

    """

    static let durationFixed = """
    import re

    _UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    _PART = re.compile(r"(\\d+)([smhd])")


    def parse_duration(text):
        \"\"\"'1h30m' -> 5400 seconds; raises ValueError for anything else.\"\"\"
        text = text.strip().lower()
        if not text:
            raise ValueError("empty duration")
        total = 0
        position = 0
        for match in _PART.finditer(text):
            if match.start() != position:
                raise ValueError(f"bad duration: {text!r}")
            total += int(match.group(1)) * _UNITS[match.group(2)]
            position = match.end()
        if position != len(text):
            raise ValueError(f"bad duration: {text!r}")
        return total

    """

    static let durationTests = """
    import pytest

    from textkit import parse_duration


    def test_hours_and_minutes():
        assert parse_duration("1h30m") == 5400


    def test_uppercase_units():
        assert parse_duration("2D") == 172800


    @pytest.mark.parametrize("bad", ["", "   "])
    def test_rejects_empty(bad):
        with pytest.raises(ValueError):
            parse_duration(bad)

    """

    static let durationTestsAfterPR3 = durationTests + """


    @pytest.mark.parametrize("bad", ["h", "1h30x", "10s!", "5m 3"])
    def test_rejects_trailing_garbage(bad):
        with pytest.raises(ValueError):
            parse_duration(bad)

    """

    // MARK: stats — PR #6 adds a test that already passes; PR #7 breaks an older test.

    static let stats = """
    import re
    from collections import Counter

    _WORD = re.compile(r"[A-Za-z']+")


    def word_count(text):
        \"\"\"Number of words (letters and apostrophes) in text.\"\"\"
        return len(_WORD.findall(text))


    def top_words(text, n=3):
        \"\"\"The n most common words, lowercased; ties broken alphabetically.\"\"\"
        counts = Counter(word.lower() for word in _WORD.findall(text))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return [word for word, _ in ranked[:n]]

    """

    static let statsDocumented = stats.replacingOccurrences(
        of: "\"\"\"Number of words (letters and apostrophes) in text.\"\"\"",
        with: "\"\"\"Number of words in text; a word is a run of letters and apostrophes.\"\"\"")

    static let statsFirstAppearance = """
    import re
    from collections import Counter

    _WORD = re.compile(r"[A-Za-z']+")


    def word_count(text):
        \"\"\"Number of words in text; a word is a run of letters and apostrophes.\"\"\"
        return len(_WORD.findall(text))


    def top_words(text, n=3):
        \"\"\"The n most common words, lowercased; ties keep their order of first appearance.\"\"\"
        counts = Counter(word.lower() for word in _WORD.findall(text))
        return [word for word, _ in counts.most_common(n)]

    """

    static let statsTests = """
    from textkit import top_words, word_count


    def test_word_count():
        assert word_count("It's a small world") == 4


    def test_top_words_by_frequency():
        assert top_words("b a b c b a", n=2) == ["b", "a"]


    def test_ties_broken_alphabetically():
        assert top_words("pear apple fig", n=2) == ["apple", "fig"]

    """

    static let statsTestsAfterPR6 = statsTests + """


    def test_word_count_ignores_digits():
        assert word_count("route 66 is long") == 3

    """

    static let statsTestsAfterPR7 = statsTestsAfterPR6 + """


    def test_ties_keep_first_appearance():
        assert top_words("pear apple fig pear apple", n=3) == ["pear", "apple", "fig"]

    """

    static let conftest = """
    import os
    import sys

    # Let the tests import the package from the source tree without installing it.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    """
}
