"""Stand-in data preparation step: lists the raw input into the output."""
import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--raw")
p.add_argument("--out")
args = p.parse_args()
os.makedirs(args.out, exist_ok=True)
names = sorted(os.listdir(args.raw)) if args.raw and os.path.isdir(args.raw) else []
with open(os.path.join(args.out, "clean.txt"), "w") as f:
    f.write("\n".join(names) + "\n")
