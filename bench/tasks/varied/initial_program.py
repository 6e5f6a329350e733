# Find the lowest point of a bumpy two-dimensional function: the evaluator scores 1 / (1 + f(x, y)).
# EVOLVE-BLOCK-START
import math


def search():
    """A fixed starting point and a short walk downhill on a coarse grid."""
    x, y = 2.5, -1.5
    step = 0.5
    for _ in range(20):
        best = (f(x, y), x, y)
        for dx in (-step, 0.0, step):
            for dy in (-step, 0.0, step):
                value = f(x + dx, y + dy)
                if value < best[0]:
                    best = (value, x + dx, y + dy)
        _, x, y = best
        step *= 0.8
    return x, y
# EVOLVE-BLOCK-END


def f(x, y):
    return (x - 1.2) ** 2 + (y + 0.7) ** 2 + 2.0 * math.sin(3.0 * x) * math.cos(2.0 * y) + 2.0


if __name__ == "__main__":
    print(search())
