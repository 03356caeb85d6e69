"""The Python examples in README.md run as written."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    namespace = {}
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)  # noqa: S102
    assert namespace["loss"].item() > 0
    assert abs(namespace["h"].numpy() - 6 * namespace["x"].detach().numpy()).max() < 1e-12


def test_readme_names_both_ci_commands():
    text = README.read_text()
    assert "<!-- ci:demo -->" in text and "<!-- ci:test -->" in text
    assert "python -m autograd demo" in text and "python -m pytest" in text
