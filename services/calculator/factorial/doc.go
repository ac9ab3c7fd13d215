// Package factorial computes n! and streams its decimal text.
//
// The number is never held in binary. It is built directly in base 10^6 (nat.go), so that its
// decimal text is just its limbs printed one after the other (write.go), with no
// binary-to-decimal conversion, which is what dominates the cost with math/big.
//
// n! is assembled from its prime factorisation (primes.go, factorial.go): the trailing zeros
// are left out (as many factors 2 as there are 5s, and all the 5s), the other primes are
// grouped by the bits of their exponents, each group is multiplied out as a balanced product
// tree, and the groups are combined by a chain of squarings (chain.go). Large products are
// convolutions computed with number-theoretic transforms modulo the prime 2^64-2^32+1 (ntt.go,
// multiply.go), spread over GOMAXPROCS cores.
//
// Memory: the chain runs in place in one arena mapped from the operating system and sized
// beforehand for its largest step (arena.go, chain.go); the last square uses a transform
// shorter than itself when that saves memory, and a square too long for one transform is done
// in blocks. Peak resident memory stays under three bytes per digit of the text from n = 10^6
// to MaxN, Go runtime included (memory_test.go checks it in a child process). The heap
// products reuse their transform buffers (bufferCache) and hand them back after the trees.
//
// Small products go to a second engine, in the calling goroutine (small.go,
// smallfactorial.go): limbs of 18 digits, long multiplication and Karatsuba's method, no
// transforms. It computes n! for n up to smallMaxN (7,500 with AVX-512 transforms, 25,000
// with AVX2, 50,000 with the pure-Go ones: a table up to 20!, from 20!
// four numbers at a time up to directMaxN, the numbers 2..n up to productMaxN, primes beyond),
// and the lower levels of the large engine's product trees. Together they are faster than GMP's
// mpz_fac_ui followed by mpz_get_str for every n up to 20,000 with AVX-512 (see the README's
// benchmark).
// Every threshold is measured by the benchmark named beside it.
//
// The butterflies run eight at a time with AVX-512 where the CPU has it (kernels_amd64.s),
// otherwise four at a time with AVX2 (kernels_avx2_amd64.s), otherwise in pure Go
// (kernels.go); the tests run every set the CPU runs, and the build tag purego leaves the
// assembly out.
//
// A computation checks for cancellation and reports progress as it goes (task.go).
package factorial
