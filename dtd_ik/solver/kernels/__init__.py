"""The solver's numba kernels: FK, Jacobian and capsule distances on flat arrays, one
Levenberg-Marquardt attempt, the per-goal attempt loop and the path variant."""
