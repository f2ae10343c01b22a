"""The solver's numba kernels, torch-free: FK, Jacobian and pair distances of one configuration
(``kinematics``) and of batches (``batch``), one Levenberg-Marquardt attempt (``lm_attempt``),
the per-goal attempt loop (``refinement``) and the path variant (``path_refinement``). Their
inputs and outputs are NamedTuples (RobotArrays, KernelParams, PathParams, Answers, ...) that
numba types field by field."""
