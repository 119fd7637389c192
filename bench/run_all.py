"""Run every benchmark in bench/, one after another, each printing its own figures.

    .venv/bin/python bench/run_all.py [name ...]     # e.g. build langid dedup
Each benchmark is also runnable alone: bench/bench_<name>.py --help.
"""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(names):
    scripts = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if names:
        scripts = [s for s in scripts if os.path.basename(s)[6:-3] in names]
    failed = []
    for script in scripts:
        print(f"\n######## {os.path.basename(script)}", flush=True)
        if subprocess.run([sys.executable, script], cwd=os.path.dirname(HERE)).returncode != 0:
            failed.append(os.path.basename(script))
    if failed:
        print("failed:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
