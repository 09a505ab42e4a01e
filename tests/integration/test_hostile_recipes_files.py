"""Hostile recipes and data files, through the real CLI in subprocesses.

* code execution: nothing outside the class allowlist is imported or run, whatever the
  recipe says (``_target_``, ``models.allowed_prefixes``, YAML tags, resolvers, the
  ``hydra:`` section); a package whose import writes a marker file proves it;
* secrets: a password or token read through ``${oc.env:...}`` appears nowhere in the
  MLflow store (params, tags, artifacts), the report, stdout or stderr;
* data bombs: compressed files that expand past the limit are refused with peak
  memory measured, naming the file, the limit and how to raise it.

Most commands run forked from one pre-imported helper (``cli_forks.ForkServer``: the
real CLI entry, its own process, folder and environment, ``PYTHONPATH`` on
``sys.path`` as at start); the training run, the Hydra search-path case (plugins are
discovered from ``sys.path``) and the memory-measured bombs run on a fresh
``python -m mlctl``.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SECRET = "Pw-s3cret-XYZ42"  # the password in every URL below
TOKEN = "tok-9f8e7d6c5b4a"  # a token read from a variable named like a secret
FAST = [
    "models=fast",
    "evaluation.importance_repeats=1",
    "evaluation.shap=off",
    "tuning.n_jobs=1",
    "tuning.n_iter=1",
]
RSS_LIMIT_MB = 450  # peak resident memory a refused bomb may cost (interpreter + imports)

RECIPE = """\
name: hostile
data:
  source: data.csv
  target: y
features:
  numeric: [a, b]
models:
  candidates:
    lr:
      estimator: logistic_regression
"""

EVIL = """\
from pathlib import Path
Path({marker!r}).write_text("imported")
class Evil:
    def __init__(self, *args, **kwargs):
        Path({marker!r}).write_text("called")
    def fit(self, X, y):
        return self
    def get_params(self, deep=True):
        return {{}}
"""


_SERVER: list = []  # the session's ForkServer, set by fork_server()


@pytest.fixture(autouse=True)
def fork_server(forked_mlctl):
    _SERVER[:] = [forked_mlctl]


def run_cli(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    fresh: bool = False,
):
    """Run ``mlctl`` (forked; ``fresh``: a new interpreter) and return (exit code,
    stdout, stderr, None)."""
    full = {
        k: v
        for k, v in os.environ.items()
        if "TRACKING_URI" not in k and k not in ("MLCTL_TRUSTED_PREFIXES", "MLCTL_MAX_DATA_BYTES")
    }
    full.update(env or {})
    if not fresh:
        res = _SERVER[0].run(list(args), cwd, full, timeout)
        assert res.returncode is not None, f"mlctl {' '.join(args)} ran past {timeout} s"
        return res.returncode, res.stdout, res.stderr, None
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlctl", *args],
        cwd=cwd,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out, err, None


def run_measured(cwd: Path, *args: str, env: dict[str, str] | None = None):
    """Like :func:`run_cli`, with the peak RSS of this one child (``os.wait4``)."""
    full = {
        k: v
        for k, v in os.environ.items()
        if "TRACKING_URI" not in k and k not in ("MLCTL_TRUSTED_PREFIXES", "MLCTL_MAX_DATA_BYTES")
    }
    full.update(env or {})
    out_file, err_file, rss_file = cwd / ".stdout", cwd / ".stderr", cwd / ".maxrss"
    # Linux keeps a process's high-water mark across fork and exec, so a child forked
    # from this (large) test process would report this process's peak. A fresh launcher
    # is small when it forks mlctl, and reports mlctl's own peak.
    command = [sys.executable, "-c", LAUNCHER, str(rss_file), sys.executable, "-m", "mlctl"]
    with out_file.open("w") as out, err_file.open("w") as err:
        proc = subprocess.Popen(
            [*command, *args], cwd=cwd, env=full, stdout=out, stderr=err, start_new_session=True
        )
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            raise AssertionError("mlctl did not stop within 300 s") from None
    rss_mb = int(rss_file.read_text()) / 1024
    return proc.returncode, out_file.read_text(), err_file.read_text(), rss_mb


LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def clean(code: int, out: str, err: str, expected: int) -> None:
    """The right exit code and no traceback anywhere."""
    assert code == expected, f"exit {code}, expected {expected}\n{out}\n{err}"
    assert "Traceback" not in out + err, err
    assert "unexpected error" not in err, err


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """(marker file, env) with a package ``evilpkg`` on PYTHONPATH that writes the marker."""
    site = tmp_path / "site"
    (site / "evilpkg").mkdir(parents=True)
    marker = tmp_path / "EXECUTED"
    (site / "evilpkg" / "__init__.py").write_text(EVIL.format(marker=str(marker)))
    return marker, {"PYTHONPATH": str(site)}


def project(tmp_path: Path, recipe: str, name: str = "recipe.yaml") -> Path:
    folder = tmp_path / "proj"
    folder.mkdir(exist_ok=True)
    (folder / "data.csv").write_text(
        "a,b,y\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(60))
    )
    (folder / name).write_text(textwrap.dedent(recipe))
    return folder


def with_candidate(block: str, extra_models: str = "") -> str:
    head = RECIPE.split("models:")[0]
    return head + "models:\n" + extra_models + "  candidates:\n" + textwrap.indent(block, "    ")


# ------------------------------------------------------------ code execution
@pytest.mark.parametrize(
    "target", ["subprocess.Popen", "os.system", "builtins.eval", "evilpkg.Evil", "sklearnx.Evil"]
)
def test_target_outside_allowlist_is_refused(tmp_path: Path, evil, target: str) -> None:
    marker, env = evil
    folder = project(tmp_path, with_candidate(f"x:\n  _target_: {target}\n"))
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", "--no-data", env=env)
    clean(code, out, err, 4)
    assert "models.candidates.x._target_" in err and "not allowed" in err
    assert "--trust-prefix" in err
    assert not marker.exists()


@pytest.mark.parametrize(
    ("prefixes", "target"),
    [("[evilpkg]", "evilpkg.Evil"), ("[subprocess]", "subprocess.Popen"), ("['']", "os.system")],
)
def test_recipe_cannot_trust_its_own_prefixes(
    tmp_path: Path, evil, prefixes: str, target: str
) -> None:
    marker, env = evil
    recipe = with_candidate(f"x:\n  _target_: {target}\n", f"  allowed_prefixes: {prefixes}\n")
    folder = project(tmp_path, recipe)
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", "--no-data", env=env)
    clean(code, out, err, 4)
    assert "not allowed" in err or "models.allowed_prefixes" in err
    assert not marker.exists()


def test_allowed_prefixes_request_names_key_and_how_to_trust(tmp_path: Path, evil) -> None:
    marker, env = evil
    recipe = with_candidate("x:\n  _target_: evilpkg.Evil\n", "  allowed_prefixes: [evilpkg]\n")
    code, out, err, _ = run_cli(project(tmp_path, recipe), "show", "recipe.yaml", env=env)
    clean(code, out, err, 4)
    assert "models.allowed_prefixes" in err and "evilpkg." in err
    assert "--trust-prefix evilpkg" in err and "MLCTL_TRUSTED_PREFIXES=evilpkg" in err
    assert not marker.exists()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_the_user_can_trust_a_prefix(tmp_path: Path, evil, how: str) -> None:
    """The control case: the marker package does write its marker once trusted."""
    marker, env = evil
    recipe = with_candidate("x:\n  _target_: evilpkg.Evil\n", "  allowed_prefixes: [evilpkg]\n")
    folder = project(tmp_path, recipe)
    args = ["validate", "recipe.yaml", "--no-data"]
    if how == "flag":
        args.append("--trust-prefix=evilpkg")
    else:
        env = {**env, "MLCTL_TRUSTED_PREFIXES": "numpy, evilpkg"}
    code, out, err, _ = run_cli(folder, *args, env=env)
    clean(code, out, err, 0)
    assert marker.exists()


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:evilpkg.Evil []",
        "!!python/name:evilpkg.Evil",
        "!!python/module:evilpkg",
        "!!python/object/new:evilpkg.Evil {}",
    ],
)
def test_yaml_python_tags_are_refused(tmp_path: Path, evil, value: str) -> None:
    marker, env = evil
    folder = project(tmp_path, RECIPE + f"seed: {value}\n")
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", "--no-data", env=env)
    clean(code, out, err, 4)
    assert "tag not allowed" in err and "recipe.yaml:" in err
    assert not marker.exists()


@pytest.mark.parametrize("expr", ["${evilpkg:x}", "${python:__import__('evilpkg')}"])
def test_unknown_resolvers_are_refused(tmp_path: Path, evil, expr: str) -> None:
    marker, env = evil
    folder = project(tmp_path, RECIPE + f'tracking:\n  experiment: "{expr}"\n')
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", "--no-data", env=env)
    clean(code, out, err, 4)
    assert "tracking.experiment" in err
    assert not marker.exists()


def test_hydra_searchpath_cannot_import_a_package(tmp_path: Path, evil) -> None:
    marker, env = evil
    folder = project(tmp_path, RECIPE + "hydra:\n  searchpath: [pkg://evilpkg]\n")
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", "--no-data", env=env, fresh=True)
    assert "Traceback" not in err
    assert code in (0, 4), err
    assert not marker.exists()


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ("callbacks:\n    x:\n      _target_: evilpkg.Evil\n", "hydra.callbacks.x._target_"),
        ("sweeper:\n    _target_: evilpkg.Evil\n", "hydra.sweeper._target_"),
        ("launcher:\n    _target_: subprocess.Popen\n", "hydra.launcher._target_"),
        (
            "job_logging:\n    handlers:\n      h:\n        (): evilpkg.Evil\n",
            "hydra.job_logging.handlers.h.()",
        ),
        (
            "job_logging:\n    handlers:\n      h:\n        class: logging.StreamHandler\n"
            "        stream: ext://evilpkg.Evil\n",
            "hydra.job_logging.handlers.h.stream",
        ),
    ],
)
def test_sweep_refuses_classes_in_the_hydra_section(
    tmp_path: Path, evil, section: str, where: str
) -> None:
    marker, env = evil
    folder = project(tmp_path, RECIPE + "hydra:\n  " + section)
    code, out, err, _ = run_cli(folder, "run", "recipe.yaml", "-m", "split.seed=1,2", env=env)
    clean(code, out, err, 4)
    assert where in err
    assert not marker.exists()
    assert not (folder / ".mlctl").exists() or not list((folder / ".mlctl").glob("sweeps/*/0"))


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ("job:\n    env_set:\n      MLCTL_TRUSTED_PREFIXES: evilpkg\n", "hydra.job.env_set"),
        ("sweep:\n    subdir: ../../escaped\n", "hydra.sweep.subdir"),
    ],
)
def test_sweep_refuses_hydra_settings_that_widen_trust_or_escape(
    tmp_path: Path, evil, section: str, where: str
) -> None:
    marker, env = evil
    recipe = RECIPE + "hydra:\n  " + section
    recipe += "  sweeper:\n    params:\n      models.candidates.lr.estimator: dummy,dummy\n"
    folder = project(tmp_path, recipe)
    code, out, err, _ = run_cli(folder, "run", "recipe.yaml", "-m", "split.seed=1,2", env=env)
    clean(code, out, err, 4)
    assert where in err
    assert not marker.exists() and not (tmp_path / "escaped").exists()


def test_reexported_class_under_sklearn_is_refused(tmp_path: Path) -> None:
    target = "sklearn.utils._param_validation.Integral"
    folder = project(tmp_path, with_candidate(f"x:\n  _target_: {target}\n"))
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", "--no-data")
    clean(code, out, err, 4)
    assert "is really numbers.Integral" in err


def test_bad_trust_prefix_is_a_usage_error(tmp_path: Path) -> None:
    folder = project(tmp_path, RECIPE)
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", "--trust-prefix", "os;rm")
    clean(code, out, err, 2)
    assert "--trust-prefix" in err


# ------------------------------------------------------------------- secrets
@pytest.fixture(scope="module")
def trained(tmp_path_factory, churn_project) -> dict:
    """One real run of the churn recipe whose log URL and webhook hold secrets."""
    root = churn_project(tmp_path_factory.mktemp("secret_project"), 600)
    recipe = root / "recipes" / "churn.yaml"
    text = recipe.read_text().replace(
        "  auto_promote: false\n",
        "  auto_promote: false\n  serve:\n    log:\n      url: ${oc.env:PREDLOG_URL}\n",
    )
    text = text.replace("${oc.env:CHURN_ALERT_WEBHOOK,null}", "${oc.env:HOOK_URL}")
    recipe.write_text(text + "tracking:\n  experiment: churn-${oc.env:CHURN_API_TOKEN}\n")
    env = {
        "PREDLOG_URL": f"postgresql://mlctl:{SECRET}@127.0.0.1:5432/test",
        "HOOK_URL": f"https://hooks.example.com/x?token={TOKEN}",
        "CHURN_API_TOKEN": TOKEN,
    }
    res = run_cli(
        root, "run", "recipes/churn.yaml", *FAST, "--json", env=env, timeout=600, fresh=True
    )
    return {"root": root, "env": env, "result": res}


def _store_text(root: Path) -> str:
    """Everything the MLflow store holds about the runs: params, tags, run names,
    experiment names and the text of every artifact file."""
    import mlflow

    uri = f"sqlite:///{root / '.mlctl' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    parts = []
    for exp in client.search_experiments():
        parts.append(exp.name)
        for run in client.search_runs([exp.experiment_id]):
            parts += [run.info.run_name or "", json.dumps(run.data.params)]
            parts.append(json.dumps(run.data.tags))
    for path in (root / ".mlctl").rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".json", ".html", ".md", ".txt"):
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def test_secrets_never_reach_mlflow_or_the_output(trained: dict) -> None:
    code, out, err, _ = trained["result"]
    clean(code, out, err, 0)
    stored = _store_text(trained["root"])
    assert "recipe.yaml" in stored or "deploy" in stored  # the artifacts were read
    for secret in (SECRET, TOKEN):
        assert secret not in stored
        assert secret not in out + err
    assert "mlctl:***@127.0.0.1" in stored  # redacted, not dropped
    doc = json.loads(out)
    html = Path(doc["report"]["html"]).read_text()
    assert SECRET not in html and TOKEN not in html


@pytest.mark.parametrize("as_json", [False, True])
def test_show_masks_secrets(trained: dict, as_json: bool) -> None:
    args = ["show", "recipes/churn.yaml", *(["--json"] if as_json else [])]
    code, out, err, _ = run_cli(trained["root"], *args, env=trained["env"])
    clean(code, out, err, 0)
    assert SECRET not in out and TOKEN not in out
    assert "postgresql://mlctl:***@127.0.0.1:5432/test" in out
    assert "token=***" in out


@pytest.mark.parametrize("target", ["docker", "k8s", "github-actions"])
def test_deploy_files_and_output_hold_no_secret(trained: dict, target: str) -> None:
    out_dir = trained["root"] / f"deploy-{target}"
    args = ["deploy", "recipes/churn.yaml", "deploy.image.mlctl_requirement=mlctl"]
    args += ["--target", target, "--out", str(out_dir), "--model", "churn/1", "--json"]
    code, out, err, _ = run_cli(trained["root"], *args, env=trained["env"])
    clean(code, out, err, 0)
    written = [f for f in out_dir.rglob("*") if f.is_file()]
    assert written
    for f in written:
        text = f.read_text(errors="replace")
        assert SECRET not in text and TOKEN not in text, f
    assert SECRET not in out + err and TOKEN not in out + err


def test_unreachable_log_url_error_hides_the_password(trained: dict) -> None:
    env = {**trained["env"], "PREDLOG_URL": f"postgresql://mlctl:{SECRET}@127.0.0.1:1/test"}
    code, out, err, _ = run_cli(
        trained["root"], "serve", "recipes/churn.yaml", "--model", "churn/1", env=env, timeout=120
    )
    assert code == 2, err
    assert "Traceback" not in err
    assert SECRET not in out + err


def test_unreachable_redis_url_error_hides_the_password(trained: dict) -> None:
    env = trained["env"]
    args = [
        "serve",
        "recipes/churn.yaml",
        "deploy.serve.cache.backend=redis",
        f"deploy.serve.cache.url=redis://:{SECRET}@127.0.0.1:1/0",
        "--model",
        "churn/1",
    ]
    code, out, err, _ = run_cli(trained["root"], *args, env=env, timeout=120)
    assert code in (2, 4), err
    assert "Traceback" not in err
    assert SECRET not in out + err


def test_recipe_error_quoting_a_url_hides_the_password(tmp_path: Path) -> None:
    recipe = RECIPE + f"compute:\n  backend: dask\n  address: tcp://u:{SECRET}@127.0.0.1:1/x\n"
    code, out, err, _ = run_cli(project(tmp_path, recipe), "validate", "recipe.yaml", "--no-data")
    clean(code, out, err, 4)
    assert "compute.address" in err
    assert SECRET not in out + err


def test_validate_json_hides_a_secret_variable(tmp_path: Path) -> None:
    recipe = RECIPE.replace("name: hostile", "name: h-${oc.env:MY_SERVICE_TOKEN}")
    folder = project(tmp_path, recipe)
    env = {"MY_SERVICE_TOKEN": TOKEN}
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", "--no-data", "--json", env=env)
    assert TOKEN not in out + err
    assert code in (0, 4) and "Traceback" not in err


# ---------------------------------------------------------------- data bombs
def _zeros_csv(total: int):
    """Blocks of a CSV (header a,b,y) of about ``total`` bytes of zero rows."""
    yield b"a,b,y\n"
    row = b"0,0,0\n" * (1 << 17)
    for _ in range(max(1, total // len(row))):
        yield row


def write_bomb(path: Path, total: int) -> Path:
    name = path.name
    if name.endswith(".gz"):
        with gzip.open(path, "wb", compresslevel=1) as f:
            for block in _zeros_csv(total):
                f.write(block)
    elif name.endswith(".bz2"):
        with bz2.open(path, "wb") as f:
            for block in _zeros_csv(total):
                f.write(block)
    elif name.endswith(".xz"):
        with lzma.open(path, "wb", preset=0) as f:
            for block in _zeros_csv(total):
                f.write(block)
    elif name.endswith(".zip"):
        with (
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z,
            z.open("data.csv", "w", force_zip64=True) as f,
        ):
            for block in _zeros_csv(total):
                f.write(block)
    return path


def bomb_recipe(tmp_path: Path, source: str) -> Path:
    recipe = RECIPE.replace("source: data.csv", f"source: {source}\n  format: csv")
    return project(tmp_path, recipe)


@pytest.mark.parametrize("name", ["bomb.csv.gz", "bomb.csv.bz2", "bomb.csv.xz", "bomb.csv.zip"])
def test_compressed_bomb_is_refused_with_bounded_memory(tmp_path: Path, name: str) -> None:
    folder = bomb_recipe(tmp_path, name)
    write_bomb(folder / name, 48 << 20)  # 48 MiB of rows, 3x the limit (bz2 writes ~10 MB/s)
    env = {"MLCTL_MAX_DATA_BYTES": "16MiB"}
    code, out, err, rss = run_measured(folder, "validate", "recipe.yaml", env=env)
    clean(code, out, err, 4)
    assert f"data.source: {folder / name}" in err
    assert "16.0 MiB" in err and "MLCTL_MAX_DATA_BYTES" in err
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"


def test_gzip_bomb_is_refused_at_the_default_limit(tmp_path: Path) -> None:
    """The reported case: a few MB of gzip that decompress to more than 1 GiB."""
    folder = bomb_recipe(tmp_path, "bomb.csv.gz")
    raw = folder / "bomb.csv.gz"
    block = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container, best ratio
    zeros = b"0,0,0\n" * (1 << 20)  # 6 MiB
    with raw.open("wb") as f:
        f.write(block.compress(b"a,b,y\n"))
        for _ in range(200):  # 1.2 GiB decompressed
            f.write(block.compress(zeros))
        f.write(block.flush())
    assert raw.stat().st_size < 10 << 20
    code, out, err, rss = run_measured(folder, "validate", "recipe.yaml")
    clean(code, out, err, 4)
    assert "1.0 GiB" in err and "MLCTL_MAX_DATA_BYTES" in err
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"


def test_parquet_declaring_a_huge_size_is_refused(tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = project(tmp_path, RECIPE.replace("data.csv", "big.parquet"))
    n = 3_000_000  # 3 columns x 24 MB uncompressed; a few KB on disk
    column = pa.array(np.zeros(n, dtype=np.int64))
    pq.write_table(pa.table({"a": column, "b": column, "y": column}), folder / "big.parquet")
    env = {"MLCTL_MAX_DATA_BYTES": "8MB"}
    code, out, err, rss = run_measured(folder, "validate", "recipe.yaml", env=env)
    clean(code, out, err, 4)
    assert "big.parquet" in err and "declares" in err and "MLCTL_MAX_DATA_BYTES" in err


def test_zstd_file_gets_a_clear_error(tmp_path: Path) -> None:
    folder = bomb_recipe(tmp_path, "data.csv.zst")
    (folder / "data.csv.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml")
    clean(code, out, err, 4)
    assert "data.csv.zst" in err


def test_init_refuses_a_bomb(tmp_path: Path) -> None:
    folder = tmp_path / "init"
    folder.mkdir()
    write_bomb(folder / "bomb.csv.gz", 200 << 20)
    env = {"MLCTL_MAX_DATA_BYTES": "16MiB"}
    code, out, err, rss = run_measured(folder, "init", "bomb.csv.gz", "--target", "y", env=env)
    clean(code, out, err, 4)
    assert "bomb.csv.gz" in err and "MLCTL_MAX_DATA_BYTES" in err
    assert rss < RSS_LIMIT_MB
    assert not (folder / "recipes").exists()


def test_predict_refuses_a_bomb(trained: dict) -> None:
    root = trained["root"]
    with (root / "big.csv").open("wb") as f:  # streamed, but a row is held whole:
        f.write(b"a," + b"0" * (20 << 20) + b"\n")  # a 20 MiB line is refused
    env = {**trained["env"], "MLCTL_MAX_DATA_BYTES": "8MiB"}
    args = ["predict", "recipes/churn.yaml", "--input", "big.csv", "--output", "o.csv"]
    code, out, err, rss = run_measured(root, *args, "--model", "churn/1", env=env)
    clean(code, out, err, 4)
    assert "--input" in err and "big.csv" in err and "MLCTL_MAX_DATA_BYTES" in err
    assert not (root / "o.csv").exists()


@pytest.mark.parametrize("value", ["lots", "-5", "10 parsecs"])
def test_bad_limit_is_a_usage_error(tmp_path: Path, value: str) -> None:
    folder = project(tmp_path, RECIPE)
    env = {"MLCTL_MAX_DATA_BYTES": value}
    code, out, err, _ = run_cli(folder, "validate", "recipe.yaml", env=env)
    clean(code, out, err, 2)
    assert "MLCTL_MAX_DATA_BYTES" in err
