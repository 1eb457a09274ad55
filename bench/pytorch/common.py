"""Shared plumbing for the PyTorch reference benchmarks: command-line flags, threads and BLAS, IDX data, metrics,
timing and the one-JSON-object output.

Every script prints progress to stderr and, with ``--json``, exactly one JSON object on stdout (otherwise a readable
summary). Timings exclude data loading and evaluation unless a field says otherwise.
"""

import argparse
import ctypes
import gzip
import json
import os
import platform
import resource
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
DEFAULT_OOD_DIR = "/work/shared/data/mnist-t10k"
DEFAULT_OUT_DIR = os.path.join(REPO, "bench", "out", "pytorch")


def log(*args):
    """Progress goes to stderr so that stdout holds only the result."""
    print(*args, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------- flags


def base_parser(description, epochs_default, epochs_help="training epochs"):
    """The flags every reference script accepts (some scripts ignore some of them; their help says so)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs_default, help=f"{epochs_help} (default {epochs_default})")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads and OpenBLAS threads (default 1)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="directory with MNIST-format IDX files (gzipped or not)")
    p.add_argument("--ood-dir", default=DEFAULT_OOD_DIR, help="directory with the out-of-distribution t10k IDX pair")
    p.add_argument("--seed", type=int, default=0, help="random seed (torch and numpy)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument(
        "--train-subset", type=int, default=0, help="use only the first N training images (0 = all; for quick checks)"
    )
    p.add_argument(
        "--no-mkldnn", action="store_true", help="disable oneDNN convolutions (use PyTorch's im2col + BLAS path)"
    )
    return p


def setup(args):
    """Seeds, threads and backend switches from the parsed flags; returns the environment description."""
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    set_threads(args.threads)
    if getattr(args, "no_mkldnn", False):
        torch.backends.mkldnn.enabled = False
    return environment()


# --------------------------------------------------------------------------------------------------- threads, BLAS


def _loaded_blas_path():
    """Path of the BLAS shared object this process has mapped (PyTorch's 'generic' BLAS is whatever libblas.so.3
    points to; Debian's alternatives decide). Call after a matrix product so that the library is loaded."""
    a = torch.ones(8, 8)
    (a @ a).sum().item()
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                part = line.split()[-1]
                if part.startswith("/") and ("blas" in part.lower()) and part not in paths:
                    paths.append(part)
    except OSError:
        pass
    # prefer the library that actually holds the OpenBLAS symbols
    for p in paths:
        if "openblas" in os.path.basename(p).lower():
            return p, paths
    return (paths[0] if paths else None), paths


def _openblas():
    path, _ = _loaded_blas_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_get_num_threads  # noqa: B018 - raises AttributeError when this is not OpenBLAS
        return lib
    except (OSError, AttributeError):
        return None


def set_threads(n):
    """One knob for both pools: PyTorch's intra-op (OpenMP, used by oneDNN convolutions and elementwise kernels) and
    OpenBLAS's own pthread pool (used by matrix products). Leaving the second at its default oversubscribes the cores."""
    torch.set_num_threads(n)
    lib = _openblas()
    if lib is not None:
        lib.openblas_set_num_threads(ctypes.c_int(n))


def blas_info():
    path, all_paths = _loaded_blas_path()
    info = {"library": path, "mapped": all_paths}
    lib = _openblas()
    if lib is not None:
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        info["openblas_config"] = lib.openblas_get_config().decode()
        info["openblas_core"] = lib.openblas_get_corename().decode()
        info["openblas_threads"] = int(lib.openblas_get_num_threads())
    return info


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def environment():
    """What a reader needs to reproduce a figure: versions, threads, BLAS, conv backend, and the environment
    variables that change OpenBLAS's kernel choice (they must be unset for a fair run)."""
    env_vars = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                                 "OMP_NUM_THREADS")}
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if env_vars[k] is not None:
            log(f"warning: {k}={env_vars[k]} is set; unset it for benchmark runs (env -u {k} ...)")
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "blas": blas_info(),
        "mkldnn_conv": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "env": env_vars,
    }


def peak_rss_mb():
    """Peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Timer:
    """Stopwatch used as ``with Timer() as t: ...``: ``t.seconds`` is wall-clock time (the benchmark figure);
    ``t.cpu`` is this process's CPU time (all threads), which shows how much of a wall time was spent waiting for a
    core on a busy machine."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.cpu = time.process_time() - self.cpu_start
        return False


# ------------------------------------------------------------------------------------------------------------ data


def _open_idx(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{directory}: no {stem} or {stem}.gz")


def read_idx(path):
    """Reads an IDX file (gzipped or not) into a numpy array: magic 0x0000 type ndim, big-endian int32 dims, data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file")
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[raw[2]]
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    return data.reshape(dims)


def load_split(directory, split):
    """Images scaled to [0, 1] as float32 (N, 1, 28, 28) and int64 labels for split 'train' or 't10k'."""
    images = read_idx(_open_idx(directory, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_open_idx(directory, f"{split}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def load_data(args, need_train=True, need_test=True, need_ood=False):
    """Training/test (and OOD test) tensors from the flags; ``--train-subset`` keeps the first N training images."""
    out = {}
    if need_train:
        x, y = load_split(args.data_dir, "train")
        if args.train_subset:
            x, y = x[: args.train_subset], y[: args.train_subset]
        out["train"] = (x.contiguous(), y.contiguous())
    if need_test:
        out["test"] = load_split(args.data_dir, "t10k")
    if need_ood:
        out["ood"] = load_split(args.ood_dir, "t10k")
    return out


def minibatches(x, y, batch_size, generator, shuffle=True):
    """Yields (x_batch, y_batch) over one epoch; the last short batch is kept (as PyTorch's DataLoader does)."""
    n = x.shape[0]
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


# --------------------------------------------------------------------------------------------------------- metrics


def ece(probs, labels, bins=15):
    """Expected calibration error with equal-width confidence bins: Σ_b (n_b/N)·|acc_b − conf_b| (Guo et al. 2017)."""
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).double()
    conf = conf.double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    total = 0.0
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        in_bin = (conf > lo) & (conf <= hi) if b > 0 else (conf >= lo) & (conf <= hi)
        nb = int(in_bin.sum())
        if nb:
            total += nb / len(labels) * abs(float(correct[in_bin].mean() - conf[in_bin].mean()))
    return total


def auroc(score_in, score_out):
    """Area under the ROC curve for telling in-distribution (positive, higher score) from OOD: the Mann–Whitney
    statistic with average ranks for ties."""
    s = torch.cat([score_in, score_out]).double().numpy()
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    n_in, n_out = len(score_in), len(score_out)
    return float((ranks[:n_in].sum() - n_in * (n_in + 1) / 2.0) / (n_in * n_out))


def entropy(probs):
    p = probs.double().clamp_min(1e-300)
    return -(p * p.log()).sum(dim=1)


def classification_metrics(probs, labels, bins=15):
    """Accuracy, NLL (mean), Brier (mean over examples of Σ_k (p_k − y_k)²) and ECE of a predictive distribution."""
    probs = probs.double()
    onehot = torch.nn.functional.one_hot(labels, probs.shape[1]).double()
    return {
        "accuracy": float((probs.argmax(1) == labels).double().mean()),
        "nll": float(-probs.gather(1, labels[:, None]).clamp_min(1e-300).log().mean()),
        "brier": float(((probs - onehot) ** 2).sum(1).mean()),
        "ece": ece(probs, labels, bins),
    }


def ood_metrics(probs_in, probs_out):
    """OOD AUROC with max-probability and with negative predictive entropy as the in-distribution score."""
    return {
        "auroc_maxprob": auroc(probs_in.max(1).values, probs_out.max(1).values),
        "auroc_entropy": auroc(-entropy(probs_in), -entropy(probs_out)),
    }


# ---------------------------------------------------------------------------------------------------------- output


def _summarise(obj, indent=0):
    pad = "  " * indent
    lines = []
    for k, v in obj.items():
        if isinstance(v, dict):
            lines.append(f"{pad}{k}:")
            lines.extend(_summarise(v, indent + 1))
        elif isinstance(v, float):
            lines.append(f"{pad}{k}: {v:.6g}")
        elif isinstance(v, list) and len(v) > 12:
            lines.append(f"{pad}{k}: [{len(v)} values] first {v[:3]} last {v[-3:]}")
        else:
            lines.append(f"{pad}{k}: {v}")
    return lines


def emit(result, as_json):
    """Prints the result: one JSON object on stdout with --json, otherwise an indented summary."""
    result["peak_rss_mb"] = peak_rss_mb()
    if as_json:
        sys.stdout.write(json.dumps(result, allow_nan=True) + "\n")
    else:
        print("\n".join(_summarise(result)))
    sys.stdout.flush()

