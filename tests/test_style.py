"""One lint configuration for the package, the tests and the benchmarks: pycodestyle with
setup.cfg's [pycodestyle] section (100 columns; the task files and the grader's answer folders
are checked with pycodestyle's defaults in tests/test_task_files.py)."""
import pycodestyle

from lenet.tasks import ROOT

CHECKED = ["lenet", "tests", "benchmarks"]


class CollectingReport(pycodestyle.BaseReport):
    """A pycodestyle report that keeps every error as 'path:line:column: code text'."""

    def __init__(self, options):
        super().__init__(options)
        self.found = []

    def error(self, line_number, offset, text, check):
        """Record the error (unless ignored) and count it as pycodestyle does."""
        code = super().error(line_number, offset, text, check)
        if code:
            self.found.append(f"{self.filename}:{line_number}:{offset + 1}: {text}")
        return code


def style_errors(paths):
    """pycodestyle's errors in `paths` under setup.cfg, as 'path:line:column: code text'."""
    guide = pycodestyle.StyleGuide(config_file=str(ROOT / "setup.cfg"),
                                   paths=[str(path) for path in paths],
                                   reporter=CollectingReport)
    report = guide.check_files()
    return report.found


def test_setup_cfg_is_read():
    """The guide runs with setup.cfg's settings, not pycodestyle's defaults."""
    guide = pycodestyle.StyleGuide(config_file=str(ROOT / "setup.cfg"), paths=[str(ROOT)])
    assert guide.options.max_line_length == 100
    assert "loop_answers" in guide.options.exclude


def test_package_tests_and_benchmarks_pass_pycodestyle():
    """No pycodestyle error in lenet/, tests/ or benchmarks/ (graded answer folders excluded)."""
    errors = style_errors(ROOT / name for name in CHECKED)
    assert not errors, f"{len(errors)} pycodestyle errors:\n" + "\n".join(errors)


def test_a_long_line_is_reported(tmp_path):
    """The check can fail: a 101-column line and a missing blank line are both reported."""
    bad = tmp_path / "bad.py"
    bad.write_text('"""A module."""\nX = 1\ndef f():\n    """Doc."""\n    return "' + "x" * 90
                   + '"\n')
    errors = style_errors([bad])
    assert any("E501" in error for error in errors), errors
    assert any("E302" in error for error in errors), errors
