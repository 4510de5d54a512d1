"""Stand-in training script for the job examples (standard library only).

Accepts the flags of both sklearn-train.yml and pipeline-three-steps.yml,
writes a small model folder and, when asked, a checkpoint.
"""
import argparse
import json
import os

p = argparse.ArgumentParser()
for flag in ("--data", "--test", "--C", "--kernel", "--epochs", "--lr", "--model", "--checkpoints"):
    p.add_argument(flag)
args, _ = p.parse_known_args()

epochs = int(args.epochs or 1)
if args.checkpoints:
    os.makedirs(args.checkpoints, exist_ok=True)
    with open(os.path.join(args.checkpoints, "last.json"), "w") as f:
        json.dump({"epoch": epochs}, f)
if args.model:
    os.makedirs(args.model, exist_ok=True)
    with open(os.path.join(args.model, "model.json"), "w") as f:
        json.dump({k: v for k, v in vars(args).items() if v is not None}, f, sort_keys=True)
print("trained for", epochs, "epochs")
