"""The README's code blocks that define plugins must keep working as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(section)
    end = text.find("\n### ", start + len(section))
    end = text.find("\n## ", start + len(section)) if end == -1 else end
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def test_transform_plugin_example_passes_the_conformance_checks():
    blocks = _python_blocks("### Writing a transform plugin")
    namespace: dict = {}
    exec(blocks[0], namespace)  # defines gamma, Gamma, register_transforms
    from gsmooth.testing import check_transform

    check_transform(namespace["Gamma"], image_shape=(1, 28, 28), theta_range=(-0.5, 0.5))
    assert namespace["register_transforms"]() == [namespace["Gamma"]]
    assert "check_transform(Gamma" in blocks[1]


def test_python_api_example_runs():
    import torch

    text = README.read_text()
    api = re.search(r"## Python API\n\n```python\n(.*?)```", text, flags=re.S).group(1)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    namespace = {"model": model, "image": torch.rand(1, 28, 28)}
    api = api.replace("n=100_000", "n=1_000")  # the same call, fewer samples for the test
    exec(api, namespace)
    cert = namespace["cert"]
    assert cert.prediction == namespace["label"] == 9 and cert.radius > 0  # the embedded model, test image 0


def test_one_quickstart_time_everywhere():
    """The README and the CLI help quote the one measured figure, gsmooth.embedded.QUICKSTART_TIME;
    no other duration is claimed for the embedded runs."""
    from gsmooth.cli import build_parser
    from gsmooth.embedded import QUICKSTART_TIME

    text = README.read_text()
    quickstart = text[text.index("## Quickstart") : text.index("\n## ", text.index("## Quickstart") + 5)]
    assert QUICKSTART_TIME in quickstart
    helps = build_parser()._subparsers._group_actions[0].choices["certify"].format_help()
    assert QUICKSTART_TIME.split(" (")[0] in " ".join(helps.split())
    for stale in ("~1 min", "under 2 minutes", "under two minutes"):
        assert stale not in text and stale not in helps


def test_architecture_dataset_command_plugin_example_works(capsys):
    import types

    from gsmooth.cli import main
    from gsmooth.data import load_dataset
    from gsmooth.models import build_model
    from gsmooth.plugin import registry

    block = _python_blocks("### Architectures, datasets and commands")[0]
    module = types.ModuleType("gsmooth_readme_example")
    exec(block, module.__dict__)
    saved = registry.get_registry()
    try:
        registry.reset_registry(registry.Registry(entry_points=[types.SimpleNamespace(
            name="readme", value="gsmooth_readme_example", dist=None, load=lambda: module)]))
        ds = load_dataset("checkers", split="train")
        assert len(ds) == 200 and ds[1][1] == 1 and ds.data.shape[1:] == (1, 8, 8)
        model = build_model("tiny_mlp", num_classes=2, input_shape=(1, 8, 8), mean=0.5, std=0.5)
        assert model(ds.data[:3].float() / 255).shape == (3, 2)
        assert main(["hello", "--who", "readme"]) == 0 and capsys.readouterr().out == "hello, readme\n"
    finally:
        registry.reset_registry(saved)


def test_python_api_whole_run_example_runs(tmp_path, monkeypatch):
    """The README's certify job from Python writes the rows `gsmooth certify` writes, and resumes."""
    from gsmooth.cli import main
    from gsmooth.io.results import read_results

    text = README.read_text()
    start = text.index("A whole `gsmooth certify` job from Python")
    block = re.search(r"```python\n(.*?)```", text[start:], flags=re.S).group(1)
    assert "certify(config)" in block
    block = block.replace("n=10_000, max=20", "n=100, max=2")  # the same call, fewer samples for the test
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(block, namespace)
    assert namespace["result"].indices == [0, 1] and len(read_results("fm.tsv")) == 2
    assert main(["certify", "--dataset", "fashion-mnist-sample", "--n0", "100", "--n", "100", "--max", "2",
                 "--no-progress", "--out", "cli.tsv"]) == 0
    assert read_results("fm.tsv").radius.tolist() == read_results("cli.tsv").radius.tolist()
    exec(block, namespace)  # again: resumed, nothing recomputed
    assert (tmp_path / "fm.tsv").read_text().count("\n") == 3
