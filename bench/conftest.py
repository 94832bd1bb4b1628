import os

# bt never calls BLAS; keep OpenBLAS from parking spinning threads on our 2 cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
