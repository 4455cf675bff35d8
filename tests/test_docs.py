"""The examples in the public docstrings and in the README run and print what they show."""

import doctest
import pathlib

import numpy as np
import pytest

import softloss
from softloss import activations, binary, losses, nn

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("module", [activations, losses, binary, nn], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, extraglobs={"np": np, **vars(softloss)}, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_examples():
    # Code fences become blank lines, which end a doctest example's expected output.
    text = "\n".join(
        "" if line.startswith("```") else line for line in README.read_text().splitlines()
    )
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, "README.md", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert test.examples, "README has no examples"
    assert runner.failures == 0
