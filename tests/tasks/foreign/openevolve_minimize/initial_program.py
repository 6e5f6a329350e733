# EVOLVE-BLOCK-START
"""Random search for the minimum of a two-dimensional function."""
import numpy as np


def search_algorithm(iterations=200, bounds=(-5, 5)):
    """Sample points at random and keep the best one."""
    rng = np.random.default_rng(0)
    best_x, best_y = rng.uniform(bounds[0], bounds[1], size=2)
    best_value = evaluate_function(best_x, best_y)
    for _ in range(iterations):
        x, y = rng.uniform(bounds[0], bounds[1], size=2)
        value = evaluate_function(x, y)
        if value < best_value:
            best_x, best_y, best_value = x, y, value
    return best_x, best_y, best_value


# EVOLVE-BLOCK-END


# This part remains fixed (not evolved)
def evaluate_function(x, y):
    """A smooth bowl with its minimum 0 at (1, -2)."""
    return (x - 1.0) ** 2 + (y + 2.0) ** 2


def run_search():
    x, y, value = search_algorithm()
    return x, y, value


if __name__ == "__main__":
    x, y, value = run_search()
    print(f"Found minimum at ({x}, {y}) with value {value}")
