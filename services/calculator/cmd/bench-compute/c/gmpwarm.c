/* gmpwarm N...: for each N, the best time of mpz_fac_ui + mpz_get_str, warm, in one process,
 * as bench-compute measures the engine: batches of repetitions, the fastest batch's time per
 * repetition. Prints "n=N s=SECONDS" per N. Build: cc -O2 gmpwarm.c -lgmp */
#include <gmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
	mpz_t f;
	mpz_init(f);
	for (int a = 1; a < argc; a++) {
		unsigned long n = strtoul(argv[a], 0, 10);
		int batch = n < 100 ? 200 : n < 1000 ? 40 : n < 5000 ? 5 : 1;
		double best = 1e9;
		mpz_fac_ui(f, n);
		free(mpz_get_str(NULL, 10, f));
		for (int r = 0; r < 30; r++) {
			double t0 = now();
			for (int b = 0; b < batch; b++) {
				mpz_fac_ui(f, n);
				free(mpz_get_str(NULL, 10, f));
			}
			double t = (now() - t0) / batch;
			if (t < best) best = t;
		}
		printf("n=%lu s=%.9f\n", n, best);
	}
	mpz_clear(f);
	return 0;
}
