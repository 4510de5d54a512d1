"""Stand-in evaluation step: writes a report about the model folder."""
import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--model")
p.add_argument("--threshold", type=float, default=0.9)
p.add_argument("--report")
args = p.parse_args()
os.makedirs(args.report, exist_ok=True)
files = sorted(os.listdir(args.model)) if args.model and os.path.isdir(args.model) else []
with open(os.path.join(args.report, "report.txt"), "w") as f:
    f.write("model files: %s\nthreshold: %s\n" % (", ".join(files), args.threshold))
