"""What the reliability guarantees cost, each beside what it replaced, in one process.

* decoding: predict's RobustPool (one study per worker at a time, survives a killed worker)
  against the torch DataLoader it replaced (bounded prefetch), same studies, same workers;
* cache reads: ``SampleCache.get`` with its checks (header, size, dtype, finiteness) against
  a bare ``np.load``;
* baselines: ``model.skops`` (no pickle) against ``joblib`` — save and load seconds, bytes;
* salt: one guess against run.json's salt check (scrypt) against one guess against the old
  fingerprint (HMAC-SHA256): the ratio is how much slower offline guessing became.

    PYTHONPATH=. python benchmarks/bench_reliability.py [--n 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "inference"))


def _best(fn, repeat: int = 3) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def bench_decoding(n: int, workers: int) -> None:
    from inference_helpers import tiny_predictor

    from bonenet.inference import Pseudonymizer, discover_studies
    from bonenet.inference._loop import decode_studies, make_loader
    from bonenet.inference._prepare import StudyDataset
    from bonenet.io import save
    from bonenet.volume import Volume

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        for i in range(n):
            arr = rng.normal(300, 200, (96, 128, 128)).astype(np.float32)
            save(Volume(arr, spacing=(0.5, 0.5, 0.5), units="HU", modality="CT"),
                 Path(tmp) / "studies" / f"P{i:04d}" / "image.nii.gz")
        studies = discover_studies(Path(tmp) / "studies")
        pred = tiny_predictor()
        pseudo = Pseudonymizer("bench-salt-5f3a9c0e")
        ds = StudyDataset(studies, pred.preparer, pseudo)

        def loader():
            assert len(list(make_loader(ds, num_workers=workers, batch_size=None, collate=False,
                                        prefetch=2))) == n

        def pool():
            assert len(list(decode_studies(ds, studies, pseudo, num_workers=workers))) == n

        t_dl, t_pool = _best(loader, 2), _best(pool, 2)
    print(f"decode {n} studies (96x128x128 NIfTI), {workers} workers: DataLoader "
          f"{60 * n / t_dl:.0f} studies/min, RobustPool {60 * n / t_pool:.0f} studies/min; "
          f"ratio pool/DataLoader {t_dl / t_pool:.2f}x")


def bench_cache() -> None:
    from bonenet.data import SampleCache

    with tempfile.TemporaryDirectory() as tmp:
        cache = SampleCache(tmp)
        arr = np.random.default_rng(0).normal(size=(128, 128, 128)).astype(np.float32)
        key = "ab" * 32
        p = cache.put(key, arr)
        t_np = _best(lambda: np.load(p, allow_pickle=False), 20)
        t_get = _best(lambda: cache.get(key, shape=arr.shape), 20)
    print(f"cache read 128^3 float32: np.load {1e3 * t_np:.2f} ms, checked get {1e3 * t_get:.2f} ms; "
          f"ratio checked/plain {t_get / t_np:.2f}x")


def bench_baselines() -> None:
    import joblib
    import pandas as pd
    import skops.io as sio

    from bonenet.baselines import TRUSTED_TYPES, build_pipeline

    rng = np.random.default_rng(0)
    n = 1000
    X = pd.DataFrame({"age": rng.normal(70, 8, n), "bmi": rng.normal(25, 3, n),
                      "sex": rng.choice(["F", "M"], n), "bv_tv": rng.normal(0.2, 0.05, n),
                      "tb_th_mm": rng.normal(0.2, 0.02, n)})
    y = (rng.random(n) < 0.3).astype(int)
    for model in ("clinical_lr", "lasso", "xgboost", "rf"):
        pipe = build_pipeline(model, list(X.columns), seed=0).fit(X, y)
        blob_j = io.BytesIO()
        t_jd = _best(lambda p=pipe, b=blob_j: (b.seek(0), b.truncate(), joblib.dump(p, b)), 2)
        raw_j = blob_j.getvalue()
        t_jl = _best(lambda r=raw_j: joblib.load(io.BytesIO(r)), 2)
        t_sd = _best(lambda p=pipe: sio.dumps(p), 2)
        raw_s = sio.dumps(pipe)
        t_sl = _best(lambda r=raw_s: sio.loads(r, trusted=list(TRUSTED_TYPES)), 2)
        print(f"baseline {model:<11}: joblib save {t_jd:.3f} s load {t_jl:.3f} s {len(raw_j) / 1e6:.2f} MB; "
              f"skops save {t_sd:.3f} s load {t_sl:.3f} s {len(raw_s) / 1e6:.2f} MB; "
              f"ratio skops/joblib load {t_sl / t_jl:.1f}x")


def bench_salt() -> None:
    from bonenet.inference import Pseudonymizer

    p = Pseudonymizer("3f2a9c0b7e1d4a5b6c8d9e0f1a2b3c4d")
    check = p.salt_check()
    key = b"guess-0000000000"
    t_hmac = _best(lambda: [hmac.new(key, b"bonenet-salt-fingerprint", hashlib.sha256).digest()
                            for _ in range(1000)], 3) / 1000
    t_scrypt = _best(lambda: p.matches(check), 3)
    print(f"one salt guess: old HMAC fingerprint {1e6 * t_hmac:.2f} us, scrypt salt check "
          f"{1e3 * t_scrypt:.1f} ms; ratio (attacker slowdown) {t_scrypt / t_hmac:,.0f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    bench_salt()
    bench_cache()
    bench_baselines()
    bench_decoding(args.n, args.workers)


if __name__ == "__main__":
    main()
