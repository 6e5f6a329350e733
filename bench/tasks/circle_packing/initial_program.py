# Pack 26 circles into the unit square, maximising the sum of their radii.
# EVOLVE-BLOCK-START
import math


def construct_packing():
    """Rings around the centre, then the largest radii that keep every circle inside and apart."""
    centers = [(0.5, 0.5)]
    for i in range(8):
        angle = 2 * math.pi * i / 8
        centers.append((0.5 + 0.3 * math.cos(angle), 0.5 + 0.3 * math.sin(angle)))
    for i in range(17):
        angle = 2 * math.pi * i / 17 + 0.1
        x = 0.5 + 0.45 * math.cos(angle)
        y = 0.5 + 0.45 * math.sin(angle)
        centers.append((min(max(x, 0.05), 0.95), min(max(y, 0.05), 0.95)))
    return centers, radii_for(centers)


def radii_for(centers):
    """Each circle as large as the walls allow, then shrunk pairwise until no two overlap."""
    radii = [min(x, y, 1 - x, 1 - y) for x, y in centers]
    for _ in range(3):
        for i in range(len(centers)):
            for j in range(i + 1, len(centers)):
                d = math.dist(centers[i], centers[j])
                if radii[i] + radii[j] > d:
                    scale = d / (radii[i] + radii[j])
                    radii[i] *= scale
                    radii[j] *= scale
    return radii
# EVOLVE-BLOCK-END


if __name__ == "__main__":
    centers, radii = construct_packing()
    print(sum(radii))
