"""The GPU fast path on the CPU: ``--precision`` (autocast), ``--channels-last``, ``--compile``.

- the default (fp32, eager, contiguous) writes exactly the rows and sidecars of the code before these
  options existed (the reference files in tests/data/precision_reference/, see tests/precision_reference.py);
- bf16 runs on the CPU, really runs the model in bf16, and is recorded (config and a column);
  fp16 on the CPU is refused; a results file resumes only at its own precision;
- a surrogate's decoder runs at the precision, its encoder and embedding never do;
- channels_last: same votes as contiguous at fp32 on the CPU (logits equal to float rounding);
- compile: recorded; a model that runs eagerly but fails to compile is a CompileError.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import gsmooth
import gsmooth.run as run
from gsmooth.cli import main
from gsmooth.embedded import SAMPLE_DATASET, embedded_default
from gsmooth.errors import CompileError, InvalidParameterError, ModelOutputError, ResultsFileError
from gsmooth.run import SmootherSetup

import precision_reference as ref

pytestmark = [pytest.mark.filterwarnings("ignore::gsmooth.run.SmoothingMismatchWarning"),
              pytest.mark.usefixtures("one_torch_thread")]

REFERENCE = Path(__file__).parent / "data" / "precision_reference"
ADDITIVE = ref.ADDITIVE


def _images(k=3):
    from gsmooth.data.datasets import load_dataset

    data = load_dataset(SAMPLE_DATASET)
    return torch.stack([data[i][0] for i in range(k)])


def _smoother(**kw):
    return SmootherSetup.load(ADDITIVE, **kw).smoother


# -- fp32: every row as before -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ref.RUNS))
def test_the_default_writes_the_rows_and_sidecar_of_the_code_before_precision(tmp_path, name):
    out = tmp_path / f"{name}.tsv"
    ref.run(name, out)
    assert ref.rows_match(out, REFERENCE / f"{name}.tsv"), (ref.rows(out)[:3], ref.rows(REFERENCE / f"{name}.tsv")[:3])
    assert ref.sidecar(out) == ref.sidecar(REFERENCE / f"{name}.tsv")


def test_explicit_fp32_is_the_default(tmp_path):
    out = tmp_path / "fp32.tsv"
    ref.run("certify_packed", out, precision="fp32", channels_last=False, compile=False)
    assert ref.rows(out) == ref.rows(REFERENCE / "certify_packed.tsv")
    assert ref.sidecar(out) == ref.sidecar(REFERENCE / "certify_packed.tsv")


# -- bf16 on the CPU -------------------------------------------------------------------------------------------------
def test_bf16_on_cpu_runs_the_model_in_bf16_and_is_recorded(tmp_path):
    setup = SmootherSetup.load(ADDITIVE, dataset=SAMPLE_DATASET, precision="bf16")
    seen = []
    setup.smoother.model.register_forward_hook(lambda m, i, o: seen.append((i[0].dtype, o.dtype)))
    out = tmp_path / "bf16.tsv"
    fields = ref.RUNS["certify_packed"][1]
    result = run.certify(run.CertifyConfig(**fields, precision="bf16", out=str(out)), setup=setup, log=lambda _: None)
    assert seen and all(o == torch.bfloat16 for _, o in seen)  # the votes were the argmax of bf16 logits
    assert all(i == torch.float32 for i, _ in seen)  # the noisy image itself is computed at full precision
    side = json.loads((tmp_path / "bf16.tsv.json").read_text())
    assert side["config"]["precision"] == "bf16"
    table = ref.rows(out)
    assert table[0][-1] == "precision" and {r[-1] for r in table[1:]} == {"bf16"}
    assert len(table) == 5 and list(result.results().idx) == [0, 1, 2, 3]
    # the same classifier in bf16 is another classifier: its counts differ from fp32's somewhere
    fp32 = ref.rows(REFERENCE / "certify_packed.tsv")
    count = table[0].index("count")
    assert [r[count] for r in table[1:]] != [r[count] for r in fp32[1:]]


def test_smoother_autocast_counts_votes_of_the_bf16_model():
    x = _images(2)
    a = _smoother(precision="bf16").count(x, 300, batch_size=200, seed=1)
    model = _smoother().model
    with torch.inference_mode():  # the same draws by hand, the model under bf16 autocast
        s = _smoother()
        noise = gsmooth.core.seeding.NoiseStream
        counts = torch.zeros(2, 10, dtype=torch.int64)
        for i in range(2):
            theta = noise(s.noise, x.shape[1:], (1, i, gsmooth.core.smoother.PHASE_ESTIMATION), device="cpu",
                          dtype=torch.float32).take(300)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                pred = model(x[i : i + 1] + theta).argmax(1)
            counts[i] = torch.bincount(pred, minlength=10)
    assert torch.equal(a, counts)


def test_fp16_on_cpu_is_refused_with_a_typed_error(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    with pytest.raises(InvalidParameterError, match=r"expected fp32 or bf16 on device cpu.*got 'fp16'"):
        gsmooth.Smoother(model, noise="gaussian", sigma=0.5, num_classes=3, precision="fp16")
    with pytest.raises(InvalidParameterError, match=r"expected one of fp32, bf16, fp16, got 'fp64'"):
        gsmooth.Smoother(model, noise="gaussian", sigma=0.5, num_classes=3, precision="fp64")
    with pytest.raises(InvalidParameterError, match=r"'precision' expected one of"):
        run.CertifyConfig(model=ADDITIVE, precision="half")
    out = tmp_path / "x.tsv"
    rc = main(["certify", "--model", ADDITIVE, "--precision", "fp16", "--n", "10", "--max", "1", "--no-progress",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "--precision expected fp32 or bf16 on device cpu" in err and "got 'fp16'" in err
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize("first,second", [("fp32", "bf16"), ("bf16", "fp32")])
def test_a_results_file_resumes_only_at_its_precision(tmp_path, first, second):
    out = tmp_path / "r.tsv"
    fields = {**ref.RUNS["certify_packed"][1], "max": 1}
    run.certify(run.CertifyConfig(**fields, precision=first, out=str(out)), log=lambda _: None)
    before = out.read_bytes()
    with pytest.raises(ResultsFileError, match="precision expected"):
        run.certify(run.CertifyConfig(**{**fields, "max": 2}, precision=second, out=str(out)), log=lambda _: None)
    assert out.read_bytes() == before
    # the same precision resumes
    done = run.certify(run.CertifyConfig(**{**fields, "max": 2}, precision=first, out=str(out)), log=lambda _: None)
    assert done.indices == [0, 1] and len(ref.rows(out)) == 3


def test_a_setup_of_another_precision_than_the_config_is_refused(tmp_path):
    setup = SmootherSetup.load(ADDITIVE, dataset=SAMPLE_DATASET)
    with pytest.raises(InvalidParameterError, match=r"setup expected the precision of config.precision \('bf16'\), got 'fp32'"):
        run.certify(run.CertifyConfig(**ref.RUNS["certify_packed"][1], precision="bf16", out=str(tmp_path / "o.tsv")),
                    setup=setup)


def test_predict_and_attack_record_the_precision(tmp_path):
    for name in ("predict", "attack"):
        out = tmp_path / f"{name}.tsv"
        ref.run(name, out, precision="bf16")
        assert ref.sidecar(out)["config"]["precision"] == "bf16"
        table = ref.rows(out)
        assert table[0][-1] == "precision" and table[1][-1] == "bf16"


def test_surrogate_decoder_runs_at_the_precision_its_encoder_never(tmp_path):
    setup = SmootherSetup.load(ref.ROTATIONAL_BLUR, transform="rotational_blur", precision="bf16")
    surrogate = setup.smoother.transform.surrogate
    seen = {}
    for part in ("f1", "f2", "h"):
        getattr(surrogate, part).register_forward_hook(lambda m, i, o, part=part: seen.setdefault(part, set()).add(o.dtype))
    setup.smoother.model.register_forward_hook(lambda m, i, o: seen.setdefault("model", set()).add(o.dtype))
    setup.smoother.count(_images(2), 50, batch_size=100)
    assert seen == {"f1": {torch.float32}, "f2": {torch.float32}, "h": {torch.bfloat16}, "model": {torch.bfloat16}}


def test_exact_transforms_run_at_full_precision_under_bf16():
    setup = SmootherSetup.load(ADDITIVE, transform="gaussian_blur", precision="bf16")
    seen = []
    setup.smoother.transform.register_forward_pre_hook(lambda m, i: seen.append(torch.is_autocast_enabled("cpu")))
    setup.smoother.model.register_forward_pre_hook(lambda m, i: seen.append(torch.is_autocast_enabled("cpu")))
    setup.smoother.count(_images(1), 20, batch_size=20)
    assert seen == [False, True]  # the blurred image the certificate is about is never autocast; the model is


def test_fp16_overflow_message_names_the_precision():
    s = _smoother()
    s.precision = "fp16"  # what a CUDA smoother would say; the message itself is device-independent
    assert "at precision fp16" in str(s._nonfinite_error(3, 100)) and "65504" in str(s._nonfinite_error(3, 100))


# -- channels_last ----------------------------------------------------------------------------------------------------
def _rgb_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, stride=2), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(8 * 5 * 5, 10),
    ).eval()


def test_channels_last_gives_the_same_votes_at_fp32_on_cpu():
    x = torch.rand(3, 3, 14, 14, generator=torch.Generator().manual_seed(1))
    model = _rgb_model()
    plain = gsmooth.Smoother(model, noise="gaussian", sigma=0.5, num_classes=10).count(x, 400, batch_size=300, seed=2)
    s = gsmooth.Smoother(_rgb_model(), noise="gaussian", sigma=0.5, num_classes=10, channels_last=True)
    assert s.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not s.model[0].weight.is_contiguous()
    seen = []
    s.model.register_forward_pre_hook(lambda m, i: seen.append(i[0].is_contiguous(memory_format=torch.channels_last)))
    last = s.count(x, 400, batch_size=300, seed=2)
    assert seen and all(seen)
    assert torch.equal(plain, last) and plain.max(dim=1).values.min() < 300  # votes spread: a real comparison
    # why only "the same votes here": the kernels sum in another order, so logits agree to rounding only
    batch = torch.rand(64, 3, 14, 14, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = model(batch), s.base_forward(batch)
    assert torch.allclose(a, b, rtol=0, atol=1e-5)


def test_channels_last_is_recorded(tmp_path):
    out = tmp_path / "cl.tsv"
    ref.run("certify_packed", out, channels_last=True)
    assert ref.sidecar(out)["config"]["channels_last"] is True
    assert ref.rows(out)[0] == ref.rows(REFERENCE / "certify_packed.tsv")[0]  # no column: fp32 votes
    with pytest.raises(ResultsFileError, match="channels_last expected true"):
        ref.run("certify_packed", out)


# -- compile ----------------------------------------------------------------------------------------------------------
def test_compile_is_recorded_and_the_eager_backend_changes_no_vote(tmp_path):
    out = tmp_path / "c.tsv"
    ref.run("certify_batches", out, compile="eager")  # dynamo traces the model; no code generation
    assert ref.sidecar(out)["config"]["compile"] == "eager"
    assert ref.rows(out) == ref.rows(REFERENCE / "certify_batches.tsv")


_PLANTED = "planted compiler failure"


def _failing_backend(gm, example_inputs):
    raise RuntimeError(_PLANTED)


def test_a_model_that_fails_to_compile_is_a_compile_error_not_an_eager_run(tmp_path, capsys):
    from torch._dynamo import list_backends, register_backend

    if "gsmooth_test_failing" not in list_backends(exclude_tags=()):
        register_backend(name="gsmooth_test_failing")(_failing_backend)
    s = _smoother(compile="gsmooth_test_failing")
    with pytest.raises(CompileError, match=r"expected torch.compile \(backend 'gsmooth_test_failing'\) to compile.*got"):
        s.count(_images(1), 10, batch_size=10)
    assert isinstance(CompileError("x"), RuntimeError)
    out = tmp_path / "f.tsv"
    rc = main(["certify", "--model", ADDITIVE, "--compile", "gsmooth_test_failing", "--n0", "10", "--n", "10",
               "--max", "1", "--no-progress", "--out", str(out)])
    assert rc == 2 and "expected torch.compile" in capsys.readouterr().err
    assert not out.exists()  # no row computed eagerly under a recorded compile setting


def test_an_unknown_backend_is_refused_on_construction():
    with pytest.raises(CompileError, match="expected torch.compile to accept the model with backend 'no_such'"):
        _smoother(compile="no_such")
    with pytest.raises(InvalidParameterError, match="compile expected True, False or a torch.compile backend"):
        _smoother(compile=3)


def test_a_broken_model_under_compile_is_still_a_model_error():
    class Broken(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :7]  # 7 "classes" for a 10-class smoother

    s = gsmooth.Smoother(Broken(), noise="gaussian", sigma=0.25, num_classes=10, compile="eager")
    with pytest.raises(ModelOutputError, match="expected the model"):
        s.count(torch.rand(1, 1, 28, 28), 10, batch_size=10)


@pytest.mark.slow
def test_inductor_compile_gives_a_recorded_run(tmp_path):
    out = tmp_path / "inductor.tsv"
    ref.run("certify_batches", out, compile=True)
    assert ref.sidecar(out)["config"]["compile"] == "inductor"
    table, reference = ref.rows(out), ref.rows(REFERENCE / "certify_batches.tsv")
    assert table[0] == reference[0] and [r[:3] for r in table] == [r[:3] for r in reference]


# -- the sampling loop ------------------------------------------------------------------------------------------------
def test_several_images_share_a_forward_batch_when_n_is_below_the_batch():
    s = _smoother()
    sizes = []
    s.model.register_forward_pre_hook(lambda m, i: sizes.append(i[0].shape[0]))
    s.count(_images(4), 60, batch_size=200)
    assert sizes == [200, 40]  # 4 x 60 samples in two forward passes, not four


def test_predict_files_say_the_precision(tmp_path, capsys):
    import numpy as np

    images = tmp_path / "x.npy"
    np.save(images, _images(2).numpy())
    lines = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.jsonl"
        assert main(["predict", "--input", str(images), "--n", "50", "--precision", precision, "--no-progress",
                     "--out", str(out)]) == 0
        lines[precision] = [json.loads(line) for line in out.read_text().splitlines()]
    capsys.readouterr()
    assert all("precision" not in line for line in lines["fp32"])  # as before
    assert [line["precision"] for line in lines["bf16"]] == ["bf16", "bf16"]


class _NaNAfter(torch.nn.Module):
    """Finite logits for the first ``good`` forward passes, then NaN for the last row of each batch."""

    def __init__(self, good):
        super().__init__()
        self.lin = torch.nn.Linear(784, 10)
        self.calls, self.good = 0, good

    def forward(self, x):
        self.calls += 1
        out = self.lin(x.flatten(1))
        if self.calls > self.good:
            out = out.clone()
            out[-1] = float("nan")
        return out


def test_the_deferred_finite_check_of_the_gpu_loop_counts_the_same_and_refuses_nan(monkeypatch):
    """The CUDA loop (checks NaN/inf once per call, reads nothing back per batch), run on the CPU."""
    x = _images(3)
    eager = _smoother().count(x, 250, batch_size=100, seed=4)
    monkeypatch.setattr(gsmooth.Smoother, "_defer_finite_check", property(lambda self: True))
    assert torch.equal(_smoother().count(x, 250, batch_size=100, seed=4), eager)
    torch.manual_seed(0)
    model = _NaNAfter(good=2)
    s = gsmooth.Smoother(model, noise="gaussian", sigma=0.25, num_classes=10)
    with pytest.raises(ModelOutputError, match=r"got NaN/inf for 6 of 750 noisy inputs"):
        s.count(x, 250, batch_size=100)
    assert model.calls == 8  # every batch ran: the check comes once, at the end of the call
    from torch.profiler import profile

    s = _smoother()
    with profile() as prof:
        s.count(x, 250, batch_size=50, seed=4)  # 15 forward passes
    reads = sum(e.count for e in prof.key_averages() if e.key == "aten::_local_scalar_dense")
    assert reads <= 4  # the input checks and the one NaN/inf check per call, none per batch


def test_the_cli_flags_reach_the_smoother_and_the_sidecar(tmp_path, capsys):
    out = tmp_path / "cli.tsv"
    assert main(["certify", "--model", ADDITIVE, "--dataset", SAMPLE_DATASET, "--precision", "bf16", "--channels-last",
                 "--compile", "eager", "--n0", "10", "--n", "30", "--max", "1", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    config = ref.sidecar(out)["config"]
    assert (config["precision"], config["channels_last"], config["compile"]) == ("bf16", True, "eager")
    s = gsmooth.Smoother.from_checkpoint(ADDITIVE, precision="bf16", channels_last=True)
    assert (s.precision, s.channels_last, s.compile_backend) == ("bf16", True, None)
    assert "precision=bf16, channels_last=True" in repr(s)
