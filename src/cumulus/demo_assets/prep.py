"""Prepare scikit-learn's digits (bundled, offline) as train/test arrays in --out."""

import argparse
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--test-size", type=float, default=0.25)
args = parser.parse_args()

digits = load_digits()
X = (digits.data / 16.0).astype("float32")
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=args.test_size, random_state=0, stratify=digits.target)
os.makedirs(args.out, exist_ok=True)
np.savez_compressed(os.path.join(args.out, "digits.npz"), X_train=X_train, X_test=X_test,
                    y_train=y_train, y_test=y_test)
print(f"prepared {len(X_train)} train / {len(X_test)} test samples in {args.out}")
