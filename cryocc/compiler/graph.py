"""Wire each job's inputs to upstream outputs and order the jobs; unknown references and cycles are errors."""

from __future__ import annotations

from ..contract import INPUT_FLAGS
from ..errors import Collector, SpecError, did_you_mean
from ..schema.jobs import CATALOG
from ..schema.pipeline import Pipeline
from .recipe import Wire


def _producers(kinds: tuple[str, ...]) -> str:
    types = [t.name for t in CATALOG.values() if any(k in t.produces() for k in kinds)]
    return ", ".join(types) or "no job type"


def wire(pipeline: Pipeline) -> dict[str, tuple[Wire, ...]]:
    """Slot -> upstream per job: explicit `inputs:` first, else the nearest earlier producer of the kind."""
    errors = Collector()
    doc = pipeline.doc
    names = list(pipeline.jobs)
    wires: dict[str, tuple[Wire, ...]] = {}
    for i, (name, job) in enumerate(pipeline.jobs.items()):
        out = []
        for slot, spec in job.type.inputs.items():
            upstream = job.inputs.get(slot)
            key = ("jobs", name, "inputs", slot)
            if upstream is not None:
                if upstream not in pipeline.jobs:
                    all_names = set(pipeline.spec.jobs)
                    errors.add(SpecError(f"no job named '{upstream}'", location=doc.locate(key, value=True),
                                         key=".".join(map(str, key)), hint=did_you_mean(upstream, all_names - {name})))
                    continue
                produced = pipeline.jobs[upstream].type.produces()
                kind = next((k for k in spec.kinds if k in produced), None)
                if kind is None:
                    errors.add(SpecError(
                        f"job '{upstream}' ({pipeline.jobs[upstream].type.name}) produces nothing that input '{slot}' consumes",
                        location=doc.locate(key, value=True), key=".".join(map(str, key)),
                        hint=f"'{slot}' takes {' or '.join(spec.kinds)}, made by: {_producers(spec.kinds)}"))
                    continue
            else:
                found = None
                for earlier in reversed(names[:i]):
                    produced = pipeline.jobs[earlier].type.produces()
                    kind = next((k for k in spec.kinds if k in produced), None)
                    if kind:
                        found = earlier
                        break
                if found is None:
                    if spec.required:
                        errors.add(SpecError(
                            f"input '{slot}' ({' or '.join(spec.kinds)}) has no job before '{name}' that produces it",
                            location=doc.locate(("jobs", name)), key=f"jobs.{name}.inputs.{slot}",
                            hint=f"add a job of type {_producers(spec.kinds)} before it, or name one with inputs: {{{slot}: <job>}}"))
                    continue
                upstream = found
            assert kind is not None  # found only with a kind
            out.append(Wire(slot, spec.option, INPUT_FLAGS[spec.option], upstream, kind, pipeline.jobs[upstream].type.produces()[kind].path))
        wires[name] = tuple(out)
    errors.raise_if_any()
    return wires


def order(pipeline: Pipeline, wires: dict[str, tuple[Wire, ...]]) -> list[str]:
    """Topological order, stable in spec order; a cycle is an error naming its jobs."""
    names = list(pipeline.jobs)
    deps = {n: {w.upstream for w in wires[n]} for n in names}
    done: list[str] = []
    remaining = list(names)
    while remaining:
        ready = next((n for n in remaining if deps[n] <= set(done)), None)
        if ready is None:
            cycle = _find_cycle(remaining, deps)
            raise SpecError(
                "dependency cycle: " + " -> ".join(cycle), location=pipeline.doc.locate(("jobs", cycle[0], "inputs")),
                key=f"jobs.{cycle[0]}.inputs", hint="a job cannot consume, directly or not, its own output")
        done.append(ready)
        remaining.remove(ready)
    return done


def _find_cycle(nodes: list[str], deps: dict[str, set[str]]) -> list[str]:
    path: list[str] = []
    node = nodes[0]
    while node not in path:
        path.append(node)
        node = sorted(d for d in deps[node] if d in nodes)[0]
    return path[path.index(node):] + [node]
