//go:build amd64 && !purego

#include "textflag.h"

// Butterflies modulo p = 2^64-2^32+1, eight lanes at a time, as in kernels.go; values are any
// 64-bit words that stand for their residues, as in ntt.go. Z31 holds 2^32-1 in every lane:
// epsilon = 2^64 mod p, and the mask of a low half. Mask registers K1 and K2 hold carries.

// r = a+b: a carry out is 2^64 = epsilon, and adding it back can carry once more.
// r must not be a.
#define ADDMOD(a, b, r) \
	VPADDQ b, a, r; \
	VPCMPUQ $1, a, r, K1; \
	VPADDQ Z31, r, K1, r; \
	VPCMPUQ $1, Z31, r, K1, K2; \
	VPADDQ Z31, r, K2, r

// r = a-b: a borrow is -epsilon, and taking it can borrow once more.
#define SUBMOD(a, b, r) \
	VPCMPUQ $1, b, a, K1; \
	VPSUBQ b, a, r; \
	VPCMPUQ $1, Z31, r, K1, K2; \
	VPSUBQ Z31, r, K1, r; \
	VPSUBQ Z31, r, K2, r

// r = a*b: the 128-bit product from four 32x32-bit products, then hi*2^64 + lo reduced as
// lo - hi>>32 + (hi&(2^32-1))*epsilon, since 2^96 = -1 and 2^64 = epsilon. t1..t5 are
// scratch, distinct from a, b and r.
#define MULMOD(a, b, r, t1, t2, t3, t4, t5) \
	VPSRLQ $32, a, t1; \
	VPSRLQ $32, b, t2; \
	VPMULUDQ b, a, t3; \
	VPMULUDQ t2, a, t4; \
	VPMULUDQ b, t1, t5; \
	VPMULUDQ t2, t1, t2; \
	VPSRLQ $32, t3, t1; \
	VPADDQ t1, t4, t4; \
	VPANDQ Z31, t4, t1; \
	VPADDQ t1, t5, t5; \
	VPSRLQ $32, t4, t4; \
	VPADDQ t4, t2, t2; \
	VPSRLQ $32, t5, t1; \
	VPADDQ t1, t2, t2; \
	VPSLLQ $32, t5, t5; \
	VPANDQ Z31, t3, t3; \
	VPORQ t5, t3, t3; \
	VPSRLQ $32, t2, t1; \
	VPANDQ Z31, t2, t2; \
	VPCMPUQ $1, t1, t3, K1; \
	VPSUBQ t1, t3, t3; \
	VPSUBQ Z31, t3, K1, t3; \
	VPSLLQ $32, t2, t1; \
	VPSUBQ t2, t1, t1; \
	VPADDQ t1, t3, r; \
	VPCMPUQ $1, t1, r, K2; \
	VPADDQ Z31, r, K2, r

#define EPSILON \
	MOVQ $0xFFFFFFFF, AX; \
	VPBROADCASTQ AX, Z31

// Lane permutations (two-source indices for VPERMT2Q: 8 and up select the second source).
DATA reverse<>+0(SB)/8, $7
DATA reverse<>+8(SB)/8, $6
DATA reverse<>+16(SB)/8, $5
DATA reverse<>+24(SB)/8, $4
DATA reverse<>+32(SB)/8, $3
DATA reverse<>+40(SB)/8, $2
DATA reverse<>+48(SB)/8, $1
DATA reverse<>+56(SB)/8, $0
GLOBL reverse<>(SB), RODATA|NOPTR, $64

// halves: [0,1,2,3,8,9,10,11] and [4,5,6,7,12,13,14,15]: the first and second halves of two
// blocks of eight.
DATA lowHalves<>+0(SB)/8, $0
DATA lowHalves<>+8(SB)/8, $1
DATA lowHalves<>+16(SB)/8, $2
DATA lowHalves<>+24(SB)/8, $3
DATA lowHalves<>+32(SB)/8, $8
DATA lowHalves<>+40(SB)/8, $9
DATA lowHalves<>+48(SB)/8, $10
DATA lowHalves<>+56(SB)/8, $11
GLOBL lowHalves<>(SB), RODATA|NOPTR, $64
DATA highHalves<>+0(SB)/8, $4
DATA highHalves<>+8(SB)/8, $5
DATA highHalves<>+16(SB)/8, $6
DATA highHalves<>+24(SB)/8, $7
DATA highHalves<>+32(SB)/8, $12
DATA highHalves<>+40(SB)/8, $13
DATA highHalves<>+48(SB)/8, $14
DATA highHalves<>+56(SB)/8, $15
GLOBL highHalves<>(SB), RODATA|NOPTR, $64

// quarters: [0,1,4,5,8,9,12,13] and [2,3,6,7,10,11,14,15].
DATA lowQuarters<>+0(SB)/8, $0
DATA lowQuarters<>+8(SB)/8, $1
DATA lowQuarters<>+16(SB)/8, $4
DATA lowQuarters<>+24(SB)/8, $5
DATA lowQuarters<>+32(SB)/8, $8
DATA lowQuarters<>+40(SB)/8, $9
DATA lowQuarters<>+48(SB)/8, $12
DATA lowQuarters<>+56(SB)/8, $13
GLOBL lowQuarters<>(SB), RODATA|NOPTR, $64
DATA highQuarters<>+0(SB)/8, $2
DATA highQuarters<>+8(SB)/8, $3
DATA highQuarters<>+16(SB)/8, $6
DATA highQuarters<>+24(SB)/8, $7
DATA highQuarters<>+32(SB)/8, $10
DATA highQuarters<>+40(SB)/8, $11
DATA highQuarters<>+48(SB)/8, $14
DATA highQuarters<>+56(SB)/8, $15
GLOBL highQuarters<>(SB), RODATA|NOPTR, $64

// evens and odds: [0,2,4,6,8,10,12,14] and [1,3,5,7,9,11,13,15].
DATA evens<>+0(SB)/8, $0
DATA evens<>+8(SB)/8, $2
DATA evens<>+16(SB)/8, $4
DATA evens<>+24(SB)/8, $6
DATA evens<>+32(SB)/8, $8
DATA evens<>+40(SB)/8, $10
DATA evens<>+48(SB)/8, $12
DATA evens<>+56(SB)/8, $14
GLOBL evens<>(SB), RODATA|NOPTR, $64
DATA odds<>+0(SB)/8, $1
DATA odds<>+8(SB)/8, $3
DATA odds<>+16(SB)/8, $5
DATA odds<>+24(SB)/8, $7
DATA odds<>+32(SB)/8, $9
DATA odds<>+40(SB)/8, $11
DATA odds<>+48(SB)/8, $13
DATA odds<>+56(SB)/8, $15
GLOBL odds<>(SB), RODATA|NOPTR, $64

// interleave: [0,8,4,12,2,10,6,14] and [1,9,5,13,3,11,7,15]; and for the inverse's second
// level, [0,8,1,9,2,10,3,11] and [4,12,5,13,6,14,7,15], and its third, [0,1,8,9,2,3,10,11]
// and [4,5,12,13,6,7,14,15].
DATA mixA<>+0(SB)/8, $0
DATA mixA<>+8(SB)/8, $8
DATA mixA<>+16(SB)/8, $4
DATA mixA<>+24(SB)/8, $12
DATA mixA<>+32(SB)/8, $2
DATA mixA<>+40(SB)/8, $10
DATA mixA<>+48(SB)/8, $6
DATA mixA<>+56(SB)/8, $14
GLOBL mixA<>(SB), RODATA|NOPTR, $64
DATA mixB<>+0(SB)/8, $1
DATA mixB<>+8(SB)/8, $9
DATA mixB<>+16(SB)/8, $5
DATA mixB<>+24(SB)/8, $13
DATA mixB<>+32(SB)/8, $3
DATA mixB<>+40(SB)/8, $11
DATA mixB<>+48(SB)/8, $7
DATA mixB<>+56(SB)/8, $15
GLOBL mixB<>(SB), RODATA|NOPTR, $64
DATA zipLow<>+0(SB)/8, $0
DATA zipLow<>+8(SB)/8, $8
DATA zipLow<>+16(SB)/8, $1
DATA zipLow<>+24(SB)/8, $9
DATA zipLow<>+32(SB)/8, $2
DATA zipLow<>+40(SB)/8, $10
DATA zipLow<>+48(SB)/8, $3
DATA zipLow<>+56(SB)/8, $11
GLOBL zipLow<>(SB), RODATA|NOPTR, $64
DATA zipHigh<>+0(SB)/8, $4
DATA zipHigh<>+8(SB)/8, $12
DATA zipHigh<>+16(SB)/8, $5
DATA zipHigh<>+24(SB)/8, $13
DATA zipHigh<>+32(SB)/8, $6
DATA zipHigh<>+40(SB)/8, $14
DATA zipHigh<>+48(SB)/8, $7
DATA zipHigh<>+56(SB)/8, $15
GLOBL zipHigh<>(SB), RODATA|NOPTR, $64
DATA pairLow<>+0(SB)/8, $0
DATA pairLow<>+8(SB)/8, $1
DATA pairLow<>+16(SB)/8, $8
DATA pairLow<>+24(SB)/8, $9
DATA pairLow<>+32(SB)/8, $2
DATA pairLow<>+40(SB)/8, $3
DATA pairLow<>+48(SB)/8, $10
DATA pairLow<>+56(SB)/8, $11
GLOBL pairLow<>(SB), RODATA|NOPTR, $64
DATA pairHigh<>+0(SB)/8, $4
DATA pairHigh<>+8(SB)/8, $5
DATA pairHigh<>+16(SB)/8, $12
DATA pairHigh<>+24(SB)/8, $13
DATA pairHigh<>+32(SB)/8, $6
DATA pairHigh<>+40(SB)/8, $7
DATA pairHigh<>+48(SB)/8, $14
DATA pairHigh<>+56(SB)/8, $15
GLOBL pairHigh<>(SB), RODATA|NOPTR, $64

// func difAVX512(x, y, w *uint64, n int)
// x[j], y[j] = x[j]+y[j], (x[j]-y[j])*w[j] for j < n, n a positive multiple of 8.
TEXT ·difAVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	EPSILON
	TESTQ CX, CX
	JZ difLoopDone
difLoop:
	VMOVDQU64 (DI), Z0
	VMOVDQU64 (SI), Z1
	VMOVDQU64 (DX), Z2
	ADDMOD(Z0, Z1, Z3)
	SUBMOD(Z0, Z1, Z4)
	MULMOD(Z4, Z2, Z5, Z6, Z7, Z8, Z9, Z10)
	VMOVDQU64 Z3, (DI)
	VMOVDQU64 Z5, (SI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $8, CX
	JNZ difLoop
difLoopDone:
	VZEROUPPER
	RET

// func ditAVX512(x, y, rlast *uint64, n int)
// With v = y[j]*r[last-j] (rlast = &r[last]): x[j], y[j] = x[j]-v, x[j]+v, for j < n.
TEXT ·ditAVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ rlast+16(FP), DX
	MOVQ n+24(FP), CX
	EPSILON
	VMOVDQU64 reverse<>(SB), Z30
	TESTQ CX, CX
	JZ ditLoopDone
ditLoop:
	VMOVDQU64 -56(DX), Z2
	VPERMQ Z2, Z30, Z2
	VMOVDQU64 (DI), Z0
	VMOVDQU64 (SI), Z1
	MULMOD(Z1, Z2, Z3, Z6, Z7, Z8, Z9, Z10)
	SUBMOD(Z0, Z3, Z4)
	ADDMOD(Z0, Z3, Z5)
	VMOVDQU64 Z4, (DI)
	VMOVDQU64 Z5, (SI)
	ADDQ $64, DI
	ADDQ $64, SI
	SUBQ $64, DX
	SUBQ $8, CX
	JNZ ditLoop
ditLoopDone:
	VZEROUPPER
	RET

// func difFineAVX512(x, y, coarse, fine *uint64, n, logS int)
// difAVX512 with w[j] = coarse[j>>logS] * fine[j&(2^logS-1)], 2^logS >= 8.
TEXT ·difFineAVX512(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ coarse+16(FP), R10
	MOVQ fine+24(FP), R11
	MOVQ n+32(FP), R12
	MOVQ logS+40(FP), CX
	MOVQ $1, R13
	SHLQ CX, R13
	DECQ R13 // s-1
	XORQ BX, BX // j
	EPSILON
	CMPQ BX, R12
	JGE difFineLoopDone
difFineLoop:
	MOVQ BX, R8
	SHRQ CX, R8
	VPBROADCASTQ (R10)(R8*8), Z11
	MOVQ BX, R9
	ANDQ R13, R9
	VMOVDQU64 (R11)(R9*8), Z12
	MULMOD(Z11, Z12, Z2, Z6, Z7, Z8, Z9, Z10)
	VMOVDQU64 (DI), Z0
	VMOVDQU64 (SI), Z1
	ADDMOD(Z0, Z1, Z3)
	SUBMOD(Z0, Z1, Z4)
	MULMOD(Z4, Z2, Z5, Z6, Z7, Z8, Z9, Z10)
	VMOVDQU64 Z3, (DI)
	VMOVDQU64 Z5, (SI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $8, BX
	CMPQ BX, R12
	JLT difFineLoop
difFineLoopDone:
	VZEROUPPER
	RET

// func ditFineAVX512(x, y, coarseTop, fine *uint64, n, logS int)
// ditAVX512 with the factor for j coarseTop[-(j>>logS)] * fine[j&(2^logS-1)], 2^logS >= 8.
TEXT ·ditFineAVX512(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ coarseTop+16(FP), R10
	MOVQ fine+24(FP), R11
	MOVQ n+32(FP), R12
	MOVQ logS+40(FP), CX
	MOVQ $1, R13
	SHLQ CX, R13
	DECQ R13
	XORQ BX, BX
	EPSILON
	CMPQ BX, R12
	JGE ditFineLoopDone
ditFineLoop:
	MOVQ BX, R8
	SHRQ CX, R8
	NEGQ R8
	VPBROADCASTQ (R10)(R8*8), Z11
	MOVQ BX, R9
	ANDQ R13, R9
	VMOVDQU64 (R11)(R9*8), Z12
	MULMOD(Z11, Z12, Z2, Z6, Z7, Z8, Z9, Z10)
	VMOVDQU64 (DI), Z0
	VMOVDQU64 (SI), Z1
	MULMOD(Z1, Z2, Z3, Z6, Z7, Z8, Z9, Z10)
	SUBMOD(Z0, Z3, Z4)
	ADDMOD(Z0, Z3, Z5)
	VMOVDQU64 Z4, (DI)
	VMOVDQU64 Z5, (SI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $8, BX
	CMPQ BX, R12
	JLT ditFineLoop
ditFineLoopDone:
	VZEROUPPER
	RET

// func tailAVX512(a *uint64, n int, w *uint64)
// The last three levels of the forward transform on each block of 8 of a[:n], n a positive
// multiple of 16, two blocks at a time. w points to 16 words: the factors of the level of
// distance 4 for both halves ([w0,w1,w2,w3] twice), then those of distance 2 ([1,w'] four
// times). Z20..Z27 hold the permutations.
TEXT ·tailAVX512(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), DX
	EPSILON
	VMOVDQU64 (DX), Z28
	VMOVDQU64 64(DX), Z29
	VMOVDQU64 lowHalves<>(SB), Z20
	VMOVDQU64 highHalves<>(SB), Z21
	VMOVDQU64 lowQuarters<>(SB), Z22
	VMOVDQU64 highQuarters<>(SB), Z23
	VMOVDQU64 evens<>(SB), Z24
	VMOVDQU64 odds<>(SB), Z25
	VMOVDQU64 mixA<>(SB), Z26
	VMOVDQU64 mixB<>(SB), Z27
	TESTQ CX, CX
	JZ tailLoopDone
tailLoop:
	VMOVDQU64 (DI), Z0
	VMOVDQU64 64(DI), Z1
	// distance 4: X = first halves, Y = second halves
	VMOVDQA64 Z0, Z2
	VPERMT2Q Z1, Z20, Z2
	VPERMT2Q Z1, Z21, Z0
	ADDMOD(Z2, Z0, Z3)
	SUBMOD(Z2, Z0, Z4)
	MULMOD(Z4, Z28, Z1, Z6, Z7, Z8, Z9, Z10)
	// distance 2: P = [X0,X1,X4,X5,Y0,Y1,Y4,Y5], Q = [X2,X3,X6,X7,Y2,Y3,Y6,Y7]
	VMOVDQA64 Z3, Z2
	VPERMT2Q Z1, Z22, Z2
	VPERMT2Q Z1, Z23, Z3
	ADDMOD(Z2, Z3, Z0)
	SUBMOD(Z2, Z3, Z4)
	MULMOD(Z4, Z29, Z1, Z6, Z7, Z8, Z9, Z10)
	// distance 1: E = evens, O = odds of (P, Q)
	VMOVDQA64 Z0, Z2
	VPERMT2Q Z1, Z24, Z2
	VPERMT2Q Z1, Z25, Z0
	ADDMOD(Z2, Z0, Z3)
	SUBMOD(Z2, Z0, Z4)
	// back in place: A = E,O mixed one way, B the other
	VMOVDQA64 Z3, Z2
	VPERMT2Q Z4, Z26, Z2
	VPERMT2Q Z4, Z27, Z3
	VMOVDQU64 Z2, (DI)
	VMOVDQU64 Z3, 64(DI)
	ADDQ $128, DI
	SUBQ $16, CX
	JNZ tailLoop
tailLoopDone:
	VZEROUPPER
	RET

// func headAVX512(a *uint64, n int, w *uint64)
// The first three levels of the inverse transform on each block of 8 of a[:n], n a positive
// multiple of 16: the reverse of tailAVX512. w points to 16 words: the factors for distance 2
// ([-1,w'] four times), then those for distance 4 ([-1,w3,w2,w1] twice), each used as v =
// y*f; x, y = x-v, x+v.
TEXT ·headAVX512(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), DX
	EPSILON
	VMOVDQU64 (DX), Z28
	VMOVDQU64 64(DX), Z29
	VMOVDQU64 mixA<>(SB), Z20
	VMOVDQU64 mixB<>(SB), Z21
	VMOVDQU64 zipLow<>(SB), Z22
	VMOVDQU64 zipHigh<>(SB), Z23
	VMOVDQU64 pairLow<>(SB), Z24
	VMOVDQU64 pairHigh<>(SB), Z25
	VMOVDQU64 lowHalves<>(SB), Z26
	VMOVDQU64 highHalves<>(SB), Z27
	TESTQ CX, CX
	JZ headLoopDone
headLoop:
	VMOVDQU64 (DI), Z0
	VMOVDQU64 64(DI), Z1
	// distance 1: E = [A0,B0,A4,B4,A2,B2,A6,B6], O = [A1,B1,A5,B5,A3,B3,A7,B7]
	VMOVDQA64 Z0, Z2
	VPERMT2Q Z1, Z20, Z2
	VPERMT2Q Z1, Z21, Z0
	ADDMOD(Z2, Z0, Z3)
	SUBMOD(Z2, Z0, Z4)
	// distance 2: P = [A0,A1,B0,B1,A4,A5,B4,B5], Q = [A2,A3,B2,B3,A6,A7,B6,B7]
	VMOVDQA64 Z3, Z2
	VPERMT2Q Z4, Z22, Z2
	VPERMT2Q Z4, Z23, Z3
	MULMOD(Z3, Z28, Z5, Z6, Z7, Z8, Z9, Z10)
	SUBMOD(Z2, Z5, Z0)
	ADDMOD(Z2, Z5, Z1)
	// distance 4: X = [A0,A1,A2,A3,B0,B1,B2,B3], Y = [A4,A5,A6,A7,B4,B5,B6,B7]
	VMOVDQA64 Z0, Z2
	VPERMT2Q Z1, Z24, Z2
	VPERMT2Q Z1, Z25, Z0
	MULMOD(Z0, Z29, Z5, Z6, Z7, Z8, Z9, Z10)
	SUBMOD(Z2, Z5, Z3)
	ADDMOD(Z2, Z5, Z4)
	// back in place: A = [X0..X3, Y0..Y3], B = [X4..X7, Y4..Y7]
	VMOVDQA64 Z3, Z2
	VPERMT2Q Z4, Z26, Z2
	VPERMT2Q Z4, Z27, Z3
	VMOVDQU64 Z2, (DI)
	VMOVDQU64 Z3, 64(DI)
	ADDQ $128, DI
	SUBQ $16, CX
	JNZ headLoop
headLoopDone:
	VZEROUPPER
	RET

// func mulAVX512(dst, a, b *uint64, n int, scale uint64)
// dst[i] = a[i]*b[i]*scale for i < n, n a positive multiple of 8; scale 1 is skipped.
TEXT ·mulAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ scale+32(FP), BX
	EPSILON
	VPBROADCASTQ BX, Z11
	TESTQ CX, CX
	JZ mulDone
	CMPQ BX, $1
	JEQ mulPlain
mulScaled:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (DX), Z1
	MULMOD(Z0, Z1, Z2, Z6, Z7, Z8, Z9, Z10)
	MULMOD(Z2, Z11, Z3, Z6, Z7, Z8, Z9, Z10)
	VMOVDQU64 Z3, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $8, CX
	JNZ mulScaled
	VZEROUPPER
	RET
mulPlain:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (DX), Z1
	MULMOD(Z0, Z1, Z2, Z6, Z7, Z8, Z9, Z10)
	VMOVDQU64 Z2, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $8, CX
	JNZ mulPlain
mulDone:
	VZEROUPPER
	RET

// func fwd3AVX512(x0, x1, x2, fine *uint64, n int, base, omega uint64)
// The radix-3 step of the forward transform (see fwd3Kernel), n a positive multiple of 8.
TEXT ·fwd3AVX512(SB), NOSPLIT, $0-56
	MOVQ x0+0(FP), DI
	MOVQ x1+8(FP), SI
	MOVQ x2+16(FP), DX
	MOVQ fine+24(FP), R8
	MOVQ n+32(FP), CX
	EPSILON
	VPBROADCASTQ base+40(FP), Z20
	VPBROADCASTQ omega+48(FP), Z21
	TESTQ CX, CX
	JZ fwd3LoopDone
fwd3Loop:
	VMOVDQU64 (R8), Z11
	MULMOD(Z20, Z11, Z12, Z6, Z7, Z8, Z9, Z10) // w1
	MULMOD(Z12, Z12, Z13, Z6, Z7, Z8, Z9, Z10) // w1^2
	VMOVDQU64 (DI), Z0
	VMOVDQU64 (SI), Z1
	VMOVDQU64 (DX), Z2
	SUBMOD(Z1, Z2, Z3)
	MULMOD(Z3, Z21, Z4, Z6, Z7, Z8, Z9, Z10) // u
	ADDMOD(Z0, Z1, Z3)
	ADDMOD(Z3, Z2, Z5) // s0
	VMOVDQU64 Z5, (DI)
	SUBMOD(Z0, Z2, Z3)
	ADDMOD(Z3, Z4, Z5) // s1
	MULMOD(Z5, Z12, Z14, Z6, Z7, Z8, Z9, Z10)
	VMOVDQU64 Z14, (SI)
	SUBMOD(Z0, Z1, Z3)
	SUBMOD(Z3, Z4, Z5) // s2
	MULMOD(Z5, Z13, Z14, Z6, Z7, Z8, Z9, Z10)
	VMOVDQU64 Z14, (DX)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, R8
	SUBQ $8, CX
	JNZ fwd3Loop
fwd3LoopDone:
	VZEROUPPER
	RET

// func inv3AVX512(x0, x1, x2, fine *uint64, n int, base, omega uint64)
// The radix-3 step of the inverse transform (see inv3Kernel), n a positive multiple of 8.
TEXT ·inv3AVX512(SB), NOSPLIT, $0-56
	MOVQ x0+0(FP), DI
	MOVQ x1+8(FP), SI
	MOVQ x2+16(FP), DX
	MOVQ fine+24(FP), R8
	MOVQ n+32(FP), CX
	EPSILON
	VPBROADCASTQ base+40(FP), Z20
	VPBROADCASTQ omega+48(FP), Z21
	TESTQ CX, CX
	JZ inv3LoopDone
inv3Loop:
	VMOVDQU64 (R8), Z11
	MULMOD(Z20, Z11, Z12, Z6, Z7, Z8, Z9, Z10) // w1
	MULMOD(Z12, Z12, Z13, Z6, Z7, Z8, Z9, Z10) // w1^2
	VMOVDQU64 (DI), Z0
	VMOVDQU64 (SI), Z1
	VMOVDQU64 (DX), Z2
	MULMOD(Z1, Z12, Z15, Z6, Z7, Z8, Z9, Z10) // v1
	MULMOD(Z2, Z13, Z16, Z6, Z7, Z8, Z9, Z10) // v2
	SUBMOD(Z15, Z16, Z3)
	MULMOD(Z3, Z21, Z4, Z6, Z7, Z8, Z9, Z10) // u
	ADDMOD(Z0, Z15, Z3)
	ADDMOD(Z3, Z16, Z5)
	VMOVDQU64 Z5, (DI)
	SUBMOD(Z0, Z16, Z3)
	ADDMOD(Z3, Z4, Z5)
	VMOVDQU64 Z5, (SI)
	SUBMOD(Z0, Z15, Z3)
	SUBMOD(Z3, Z4, Z5)
	VMOVDQU64 Z5, (DX)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, R8
	SUBQ $8, CX
	JNZ inv3Loop
inv3LoopDone:
	VZEROUPPER
	RET
