def clamp(x, lo, hi):
    return max(lo, min(x, hi))


def sign(x):
    return (x > 0) - (x < 0)
