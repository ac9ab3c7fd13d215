// Package factorial computes n! and streams its decimal text.
//
// The number is never held in binary. It is built directly in base 10^6 (nat.go), so that its
// decimal text is just its limbs printed one after the other (write.go), with no
// binary-to-decimal conversion, which is what dominates the cost with math/big.
//
// n! is assembled from its prime factorisation (primes.go, factorial.go): the primes are grouped
// by the bits of their exponents, each group is multiplied out as a balanced product tree, and
// the groups are combined by a chain of squarings. Large products are convolutions computed with
// number-theoretic transforms modulo the prime 2^64-2^32+1 (ntt.go, multiply.go), spread over
// GOMAXPROCS cores; the transform buffer of the chain is allocated once, and the last product is
// built in place, which keeps peak memory near three times the length of the text for large n.
//
// A computation checks for cancellation and reports progress as it goes (task.go).
package factorial
