# Train a logistic regression on the digits data; the style of the SDK v1 sklearn samples.
import argparse
import os

import joblib
import numpy as np
from azureml.core.run import Run
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--regularization", type=float, default=1.0, help="inverse regularization")
parser.add_argument("--max-iter", type=int, default=200)
parser.add_argument("--data-folder", type=str, default=None)
args = parser.parse_args()

run = Run.get_context()

if args.data_folder:
    table = np.loadtxt(os.path.join(args.data_folder, "digits.csv"), delimiter=",")
    X, y = table[:, :-1], table[:, -1].astype(int)
else:
    X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)

clf = LogisticRegression(C=args.regularization, max_iter=args.max_iter)
for _epoch in range(3):
    clf.fit(X_train, y_train)
    run.log("accuracy", float(clf.score(X_test, y_test)))
run.log("regularization", args.regularization)

os.makedirs("outputs", exist_ok=True)
joblib.dump(value=clf, filename="outputs/sklearn_digits_model.pkl")
