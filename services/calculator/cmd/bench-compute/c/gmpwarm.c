/* gmpwarm N...: for each N, the best time of mpz_fac_ui + mpz_get_str, warm, in one process,
 * as bench-compute measures the engine: 30 passes over every N, each timing one batch of
 * repetitions of each N after a call that warms it; each N's fastest batch, per repetition.
 * The batches of one N are spread over the run, not back to back, so that its best is not
 * the best of one moment on a machine whose speed swings. Prints "n=N s=SECONDS" per N.
 * Build: cc -O2 gmpwarm.c -lgmp */
#include <gmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void once(mpz_t f, unsigned long n) {
	mpz_fac_ui(f, n);
	free(mpz_get_str(NULL, 10, f));
}

int main(int argc, char **argv) {
	int count = argc - 1;
	unsigned long *ns = malloc(count * sizeof *ns);
	double *best = malloc(count * sizeof *best);
	for (int i = 0; i < count; i++) {
		ns[i] = strtoul(argv[i + 1], 0, 10);
		best[i] = 1e9;
	}
	mpz_t f;
	mpz_init(f);
	for (int pass = 0; pass < 30; pass++) {
		for (int i = 0; i < count; i++) {
			unsigned long n = ns[i];
			int batch = n < 100 ? 200 : n < 1000 ? 40 : n < 5000 ? 5 : 1;
			once(f, n);
			double t0 = now();
			for (int b = 0; b < batch; b++) once(f, n);
			double t = (now() - t0) / batch;
			if (t < best[i]) best[i] = t;
		}
	}
	for (int i = 0; i < count; i++) printf("n=%lu s=%.9f\n", ns[i], best[i]);
	mpz_clear(f);
	free(ns);
	free(best);
	return 0;
}
