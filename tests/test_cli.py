"""The command line, run as a user runs it: through subprocess, on digits_lt."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import oversample as ovs
from oversample import demo

pytest.importorskip("tensorflow_datasets")


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oversample.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's header; fails on anything else."""
    with open(path, "rb") as file:
        data = file.read(32)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_help_shows_examples():
    done = _run("--help")
    assert done.returncode == 0
    assert "oversample inspect digits_lt" in done.stdout
    assert "oversample plan" in _run("plan", "--help").stdout


def test_inspect_prints_json_counts(data_dir, tmp_path):
    from oversample.datasets import profile

    plot = tmp_path / "counts.png"
    done = _run(
        "inspect", "digits_lt", "--data-dir", data_dir, "--json", "--plot", str(plot)
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {str(c): n for c, n in enumerate(profile())}
    assert summary["imbalance_ratio"] == pytest.approx(130 / 6)
    width, height = png_size(plot)
    assert width >= 600 and height >= 400


def test_inspect_table_and_progress(data_dir, tmp_path):
    """Standard output redirected to a file holds the table and no line of
    the progress bar, which goes to stderr."""
    out = tmp_path / "out.txt"
    with out.open("w") as file:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "oversample.cli",
                "inspect",
                "digits_lt",
                "--data-dir",
                data_dir,
            ],
            stdout=file,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "imbalance ratio 21.7" in text
    assert "│ 9     │     6 │" in text
    assert "counting labels" not in text and "443/443" not in text
    assert "counting labels" in done.stderr and "443/443" in done.stderr


@pytest.mark.heavy  # a Beam pipeline: the second tier
def test_counting_with_beams_direct_runner_gives_the_same_counts(data_dir, tmp_path):
    pytest.importorskip("apache_beam")
    common = ("inspect", "digits_lt", "--data-dir", data_dir, "--json")
    beam = _run(*common, "--runner", "direct")
    tfdata = _run(*common)
    assert beam.returncode == 0, beam.stderr
    assert "Apache Beam (DirectRunner)" in beam.stderr
    assert json.loads(beam.stdout) == json.loads(tfdata.stdout)
    path = tmp_path / "plan.json"
    done = _run(
        "plan", "digits_lt", "--data-dir", data_dir, "--runner", "direct",
        "--seed", "3", "--json", str(path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = ovs.Plan.from_json(path.read_text())
    assert not plan.knows_samples and plan.num_samples == 443
    assert plan.targets == ovs.plan(counts=plan.counts, seed=3).targets


def test_plan_writes_json_that_loads_back(data_dir, tmp_path):
    path, plot = tmp_path / "plan.json", tmp_path / "plan.png"
    done = _run(
        "plan",
        "digits_lt",
        "--data-dir",
        data_dir,
        "--strategy",
        "sqrt",
        "--seed",
        "7",
        "--max-factor",
        "10",
        "--json",
        str(path),
        "--plot",
        str(plot),
    )
    assert done.returncode == 0, done.stderr
    plan = ovs.Plan.load(path)  # written atomically, with its checksum
    assert plan.seed == 7 and plan.strategy == "sqrt" and plan.max_factor == 10
    assert plan.num_samples == 443 and plan.knows_samples
    assert plan.fingerprint in done.stdout
    assert png_size(plot)[0] >= 600


def test_plan_shows_a_thinned_plan(data_dir, tmp_path):
    path = tmp_path / "plan.json"
    args = ["plan", "digits_lt", "--data-dir", data_dir, "--strategy", "median"]
    refused = _run(*args)
    assert refused.returncode == 2 and "pass --thin to thin" in refused.stderr
    assert "--strategy 'median' sets targets below" in refused.stderr
    done = _run(*args, "--thin", "--seed", "1", "--json", str(path))
    assert done.returncode == 0, done.stderr
    plan = ovs.Plan.load(path)
    assert len(set(plan.targets.values())) == 1
    assert min(plan.factors.values()) < 1 < max(plan.factors.values())


def test_mix_plans_a_mixture_of_splits_from_their_declared_sizes(data_dir, tmp_path):
    path, plot = tmp_path / "mix.json", tmp_path / "mix.png"
    sources = ["digits_lt:train=2.5", "digits_lt:test=0.3"]
    done = _run(
        "mix",
        *sources,
        "--data-dir",
        data_dir,
        "--seed",
        "3",
        "--json",
        str(path),
        "--plot",
        str(plot),
    )
    assert done.returncode == 0, done.stderr
    plan = ovs.Plan.load(path)
    assert plan.strategy == "mixture" and plan.seed == 3
    counts = plan.counts
    assert plan.targets == {
        "digits_lt:test": round(0.3 * counts["digits_lt:test"]),
        "digits_lt:train": round(2.5 * counts["digits_lt:train"] + 1e-9),
    }
    assert "source" in done.stdout and "epochs" in done.stdout
    assert png_size(plot)[0] >= 600
    bad = _run("mix", "digits_lt:validation=1", "--data-dir", data_dir)
    assert bad.returncode == 2 and "'validation' is not a split" in bad.stderr
    rate = _run("mix", "digits_lt=-1", "--data-dir", data_dir)
    assert rate.returncode == 2
    assert (
        "the rate of 'digits_lt' must be a finite number of epochs > 0" in rate.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "no_such_dataset"], "unknown dataset 'no_such_dataset'"),
        (["inspect", "digits_lt", "--label", "labels"], "'labels' is not a feature"),
        (["plan", "digits_lt", "--strategy", "balanced"], "--strategy must be"),
        (["plan", "digits_lt", "--strategy", "power:-1"], "exponent=-1.0"),
        (["inspect", "digits_lt", "--split", "validation"], "not a split"),
    ],
)
def test_errors_print_one_line_and_exit_non_zero(args, message, data_dir):
    done = _run(*args, "--data-dir", data_dir)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and message in lines[0], done.stderr


@pytest.mark.heavy  # trains models: the second tier
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    done = _run("demo", "--seeds", "1", "--steps", "40", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "demo.json").read_text())
    assert set(results["results"]) == set(demo.METHODS) >= {"class_weight"}
    assert results["targets"] == {str(c): 2000 for c in range(20)}
    assert all(
        set(run) == {"balanced_accuracy", "many_shot", "medium_shot", "few_shot"}
        for runs in results["results"].values()
        for run in runs
    )
    for name in ("plan.png", "demo.png"):
        assert png_size(out / name)[0] >= 600
    assert "every class exactly at its target" in done.stdout
    # one seed: no standard deviation, and the closing line says so
    assert "no standard deviation to compare by" in done.stdout
    # Piped, as into a log file: the table is not squeezed to 80 columns.
    header = next(line for line in done.stdout.splitlines() if "method" in line)
    assert "balanced accuracy" in header and "few shot" in header
    assert max(len(line) for line in done.stdout.splitlines()) > 80
    assert not [w for w in START_UP if w in done.stderr], done.stderr[-3000:]


def _env_without(name: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != name}


START_UP = ("cpu_feature_guard", "oneDNN", "absl::InitializeLog")


def test_tensorflows_start_up_lines_stay_out():
    script = (
        "import os; from oversample.tf import tf; tf().constant(1).numpy();"
        " print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env_without("TF_CPP_MIN_LOG_LEVEL"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]
    assert not [w for w in START_UP if w in done.stderr], done.stderr


@pytest.mark.parametrize(
    ("level", "kept"), [("1", [1, 2, 3]), ("2", [2, 3]), ("0", [0, 1, 2, 3])]
)
def test_only_lines_below_the_level_are_dropped_from_the_first_import(level, kept):
    lines = [
        "I0000 00:00:1796393512.307672    3481 port.cc:153] oneDNN is on",
        "W0000 00:00:1796393512.307672    3481 a.cc:1] a warning",
        "E0000 00:00:1796393512.307672    3481 b.cc:2] an error",
        "a line of Python's own",
    ]
    script = (
        "import os; from oversample.tf import _below_level_dropped\n"
        "with _below_level_dropped(True):\n"
        f"    os.write(2, {chr(10).join(lines)!r}.encode() + b'\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**_env_without("TF_CPP_MIN_LOG_LEVEL"), "TF_CPP_MIN_LOG_LEVEL": level},
    )
    assert done.stderr.splitlines() == [lines[i] for i in kept]


@pytest.mark.parametrize(("given", "kept"), [(None, "1"), ("0", "0"), ("3", "3")])
def test_the_log_level_is_set_only_where_the_user_has_not(given, kept, monkeypatch):
    from oversample.tf import quiet_start

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    if given is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", given)
    quiet_start()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == kept


def test_a_piped_console_draws_tables_at_their_own_width(monkeypatch):
    import io

    from rich.table import Table

    from oversample import report

    monkeypatch.setenv("COLUMNS", "80")
    table = Table()
    for name in ("method", "balanced accuracy", "many", "medium", "few shot"):
        table.add_column(name)
    table.add_row("class_weight", *["0.660 ± 0.010"] * 4)
    buffer = io.StringIO()
    console = report.console(buffer)
    console.print(table)
    report.rule(console, "4. train four ways")
    lines = buffer.getvalue().splitlines()
    assert "balanced accuracy" in lines[1]
    assert len(lines[0]) > 80
    assert len(lines[-1]) == report.RULE_WIDTH


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """The command line in this process: (exit status, stdout, stderr)."""
    from oversample import cli

    try:
        code = cli.main(list(args))
    except SystemExit as exit:
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_names_the_package(capsys):
    assert _main(capsys, "--version")[:2] == (0, f"oversample {ovs.__version__}\n")


@pytest.mark.parametrize("command", ["demo", "inspect", "plan", "mix"])
def test_each_command_shows_its_own_examples(command, capsys):
    code, out, _ = _main(capsys, command, "--help")
    assert code == 0
    examples = out.split("examples:")[1].split()
    commands = {examples[i + 1] for i, w in enumerate(examples) if w == "oversample"}
    assert commands == {command}


def test_the_help_says_every_default(capsys):
    out = " ".join(_main(capsys, "plan", "--help")[1].split())
    for shown in (
        "--split SPLIT the split to read (default: train)",
        "--seed SEED the plan's seed, an int >= 0 (default: one drawn at random",
        "stochastic: at its target on average (default: exact)",
        "--max-factor F cap on every class's factor, a number >= 1 (default: no cap)",
        "--json [PATH] write the plan as JSON to PATH, or to standard output",
    ):
        assert shown in out, shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "digits_lt", "--max-factor", "0"], "got --max-factor=0.0"),
        (["plan", "digits_lt", "--seed", "-1"], "got --seed=-1"),
        (["plan", "digits_lt", "--json", "no/such/plan.json"], "'no/such/plan.json'"),
        (["inspect", "digits_lt", "--plot", "no/such/c.png"], "folder 'no/such'"),
        (["mix", "digits_lt:train=1", "--json", "."], "'.' is a folder"),
        (["mix", "digits_lt=0"], "a finite number of epochs > 0; got '0'"),
    ],
)
def test_bad_options_are_refused_before_tensorflow_starts(
    args, message, capsys, monkeypatch
):
    from oversample import cli_output

    def started() -> None:
        raise AssertionError("TensorFlow was started before the check")

    monkeypatch.setattr(cli_output, "start_tensorflow", started)
    code, _, err = _main(capsys, *args)
    assert code == 2 and message in err, err


@pytest.mark.parametrize(
    ("module", "args", "hint"),
    [
        ("matplotlib", ["--plot", "p.png"], "pip install 'oversample[plot]'"),
        ("apache_beam", ["--runner", "direct"], "pip install 'oversample[beam]'"),
    ],
)
@pytest.mark.parametrize("command", ["inspect", "plan"])
def test_a_missing_extra_is_named_before_any_counting(
    command, module, args, hint, capsys, monkeypatch
):
    from oversample import cli_output

    real = cli_output.importlib.util.find_spec
    monkeypatch.setattr(
        cli_output.importlib.util,
        "find_spec",
        lambda name, *rest: None if name == module else real(name, *rest),
    )
    monkeypatch.setattr(cli_output, "start_tensorflow", pytest.fail)
    code, _, err = _main(capsys, command, "digits_lt", *args)
    assert code == 2 and hint in err, err


@pytest.mark.parametrize("command", ["inspect", "plan", "mix"])
@pytest.mark.parametrize("form", [[], ["-"]])
def test_json_bare_or_dash_goes_to_stdout_alone(command, form, data_dir, capsys):
    source = "digits_lt:train=2" if command == "mix" else "digits_lt"
    seed = [] if command == "inspect" else ["--seed", "1"]
    args = [command, source, "--data-dir", data_dir, *seed, "--json", *form]
    code, out, err = _main(capsys, *args)
    assert code == 0, err
    if command == "inspect":
        assert json.loads(out)["num_examples"] == 443
    else:
        assert ovs.Plan.from_json(out.strip()).seed == 1
    assert not Path("-").exists()


def test_json_with_a_path_writes_the_file_with_the_umask_and_shows_the_table(
    data_dir, capsys, tmp_path
):
    path = tmp_path / "counts.json"
    code, out, err = _main(
        capsys, "inspect", "digits_lt", "--data-dir", data_dir, "--json", str(path)
    )
    assert code == 0, err
    assert json.loads(path.read_text())["counts"]["9"] == 6
    assert "imbalance ratio 21.7" in out and f"counts written to {path}" in out
    umask = os.umask(0)
    os.umask(umask)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~umask)


def test_numbers_are_coloured_whole_on_a_terminal(data_dir, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, err = _main(
        capsys, "plan", "digits_lt", "--data-dir", data_dir, "--seed", "0"
    )
    assert code == 0, err
    number = re.compile(r"\x1b\[[\d;]*m([^\x1b]*)\x1b\[0m")
    coloured = number.findall(out)
    assert "1,300" in coloured and "2.93" in coloured and "857" in coloured
    assert not re.search(r"\x1b\[0m,\d", out)  # no comma left uncoloured


def test_a_terminal_sees_something_while_tensorflow_starts(tmp_path):
    """stderr on a pseudo-terminal: the spinner's line comes first, then what
    the command prints once TensorFlow is imported."""
    import pty

    script = (
        "from oversample import cli_output\n"
        "cli_output.start_tensorflow()\n"
        "print('imported', flush=True)\n"
    )
    primary, secondary = pty.openpty()
    done = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "TERM": "xterm"},
    )
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the other end is closed once the process exits
            break
        if not chunk:
            break
        seen += chunk
    assert done.wait(timeout=300) == 0
    os.close(primary)
    text = seen.decode(errors="replace")
    assert "starting TensorFlow" in text and "imported" in text
    assert text.index("starting TensorFlow") < text.index("imported")
