"""The script that timed one default fit on MixedShapesRegularTrain, 2 then 1 threads (loster-budget-13b-cpu)."""
import json
import os
import time

import numpy as np
from sklearn.metrics import normalized_mutual_info_score as nmi
from sklearn.metrics import rand_score

from skdeepcluster import LoSTerClustering
from skdeepcluster.datasets import load_ucr_dataset

X, y = load_ucr_dataset("MixedShapesRegularTrain", "/work/data/ucr")
k = len(np.unique(y))
out = []
for n_jobs in (2, 1):
    load_before = os.getloadavg()
    t = time.perf_counter()
    m = LoSTerClustering(n_clusters=k, random_state=0, n_jobs=n_jobs, device="cpu").fit(X)
    seconds = time.perf_counter() - t
    h = m.history_
    rec = {"n_jobs": n_jobs, "seconds": seconds, "load_before": load_before, "load_after": os.getloadavg(),
           "pretrain_s": sum(e["seconds"] for e in h if e.get("phase") == "pretrain" and "seconds" in e),
           "pretrain_epochs": sum(e.get("phase") == "pretrain" for e in h),
           "init_s": sum(e["seconds"] for e in h if e.get("phase") == "init"),
           "joint_s": sum(e["seconds"] for e in h if e.get("phase") == "joint" and "seconds" in e),
           "joint_epochs": sum(e.get("phase") == "joint" and "event" not in e for e in h),
           "events": [e["event"] for e in h if "event" in e],
           "ri": rand_score(y, m.labels_), "nmi": nmi(y, m.labels_),
           "init_ri": rand_score(y, m.initial_labels_), "init_nmi": nmi(y, m.initial_labels_)}
    rec["other_s"] = seconds - rec["pretrain_s"] - rec["init_s"] - rec["joint_s"]
    out.append(rec)
    print(json.dumps(rec), flush=True)
json.dump({"dataset": "MixedShapesRegularTrain", "shape": list(X.shape), "machine": "AMD EPYC, 2 cores, no GPU",
           "runs": out},
          open("/work/wt-13/benchmarks/results/loster-budget-13b-cpu.json", "w"), indent=1)
