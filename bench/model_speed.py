"""Raw llama.cpp speed of a model beside Plumb's end-to-end generation time with it.

    python -m bench.model_speed --model qwen2.5-coder-1.5b [--requests 10] [--json out.json]

The anchor is the same GGUF file driven directly by llama-cpp-python: prompt tokens per
second (a ~1,500-token prompt) and generated tokens per second. Beside it, Plumb's pipeline
generates flows for the first N flow requests of the benchmark, so the pipeline's overhead
(reading, planning, checking, repairs) is visible next to the raw model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

FILLER = ("Node-RED flows move messages between nodes. Each node has an id, a type and "
          "wires. ") * 60


def raw_speed(path: str, threads: int, n_ctx: int, prompt_tokens: int = 1500) -> dict[str, float]:
    """Prompt and generation tokens/s of the bare model, no grammar, no cache reuse."""
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                verbose=False, seed=1)
    prompt = llm.tokenize(FILLER.encode())[:prompt_tokens]
    llm.reset()
    started = time.perf_counter()
    llm.eval(prompt)
    prompt_s = time.perf_counter() - started
    generated = 0
    started = time.perf_counter()
    for token in llm.generate(prompt, temp=0.0):  # reuses the evaluated prompt
        generated += 1
        if generated >= 64 or token == llm.token_eos():
            break
    gen_s = time.perf_counter() - started
    return {"prompt_tokens": len(prompt), "prompt_tok_s": round(len(prompt) / prompt_s, 1),
            "gen_tokens": generated, "gen_tok_s": round(generated / gen_s, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A name from `ask models`.")
    parser.add_argument("--requests", type=int, default=10,
                        help="How many benchmark flow requests (spread over the categories) "
                        "to generate end to end.")
    parser.add_argument("--prompt-tokens", type=int, default=1500,
                        help="Prompt length for the raw llama.cpp measurement.")
    parser.add_argument("--json", dest="json_out", help="Also write the results here.")
    args = parser.parse_args(argv)

    from assistant.generate.pipeline import generate
    from assistant.models.install import model_file
    from assistant.models.loading import load_model
    from assistant.models.registry import get_spec
    from evals.flows.cases import load_cases

    spec = get_spec(args.model)
    model = load_model(args.model)
    path = model_file(spec)
    raw = raw_speed(str(path), spec.n_threads, spec.n_ctx, args.prompt_tokens) if path else {}
    cases = [c for c in load_cases(None) if c.outcome == "flow" and not c.base_flow]
    seconds: list[float] = []
    tokens: list[int] = []
    # Spread over the categories, not the first N (which are all "core").
    step = max(1, len(cases) // max(1, args.requests))
    for case in cases[::step][: args.requests]:
        outcome = generate(case.request, model)
        seconds.append(outcome.seconds)
        tokens.append(outcome.tokens)
        print(f"{case.id}: {outcome.kind} in {outcome.seconds:.1f} s, {outcome.tokens} tokens",
              file=sys.stderr)
    ordered = sorted(seconds)
    result: dict[str, Any] = {
        "model": args.model,
        "raw_llama_cpp": raw,
        "plumb": {
            "requests": len(seconds),
            "median_s": round(statistics.median(ordered), 2) if ordered else None,
            "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 2) if ordered else None,
            "mean_generated_tokens": round(statistics.mean(tokens), 1) if tokens else None,
        },
    }
    print(json.dumps(result, indent=2))
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
