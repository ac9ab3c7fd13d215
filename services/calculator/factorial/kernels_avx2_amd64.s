//go:build amd64 && !purego

#include "textflag.h"

// The butterflies of kernels_amd64.s with AVX2, four lanes at a time, for CPUs without
// AVX-512. AVX2 has no unsigned comparison and no mask registers: a comparison is a signed
// one of values with their top bit flipped ("biased", x^2^63, which keeps their order), and a
// carry mask (all ones) shifted right by 32 is epsilon = 2^64 mod p = 2^32-1. Y15 holds 2^32-1
// in every lane, Y14 holds 2^63.

// r = a+b: a carry out is 2^64 = epsilon, and adding it back can carry once more.
// t1, t2 are scratch, distinct from a, b and r; r may be a or b.
#define ADDMOD4(a, b, r, t1, t2) \
	VPXOR Y14, a, t1; \
	VPADDQ b, a, r; \
	VPXOR Y14, r, t2; \
	VPCMPGTQ t2, t1, t1; \
	VPSRLQ $32, t1, t1; \
	VPADDQ t1, t2, r; \
	VPCMPGTQ r, t2, t2; \
	VPSRLQ $32, t2, t2; \
	VPADDQ t2, r, r; \
	VPXOR Y14, r, r

// r = a-b: a borrow is -epsilon, and taking it can borrow once more.
// t1, t2 are scratch, distinct from a, b and r; r may be a or b.
#define SUBMOD4(a, b, r, t1, t2) \
	VPXOR Y14, a, t1; \
	VPXOR Y14, b, t2; \
	VPCMPGTQ t1, t2, t2; \
	VPSUBQ b, a, r; \
	VPXOR Y14, r, t1; \
	VPSRLQ $32, t2, t2; \
	VPSUBQ t2, t1, r; \
	VPCMPGTQ t1, r, t1; \
	VPSRLQ $32, t1, t1; \
	VPSUBQ t1, r, r; \
	VPXOR Y14, r, r

// r = a*b: the 128-bit product hi*2^64 + lo from four 32x32-bit products, reduced as
// lo - hi>>32 + (hi&(2^32-1))*epsilon, since 2^96 = -1 and 2^64 = epsilon; lo is biased
// while the borrow and the carry are found. t1..t5 are scratch, distinct from a, b and r;
// r may be a or b.
#define MULMOD4(a, b, r, t1, t2, t3, t4, t5) \
	VPSRLQ $32, a, t1; \
	VPSRLQ $32, b, t2; \
	VPMULUDQ b, a, t3; \
	VPMULUDQ t2, a, t4; \
	VPMULUDQ b, t1, t5; \
	VPMULUDQ t2, t1, t2; \
	VPSRLQ $32, t3, t1; \
	VPADDQ t1, t5, t5; \
	VPAND Y15, t5, t1; \
	VPSRLQ $32, t5, t5; \
	VPADDQ t1, t4, t4; \
	VPADDQ t5, t2, t2; \
	VPSRLQ $32, t4, t1; \
	VPADDQ t1, t2, t2; \
	VMOVSLDUP t4, t4; \
	VPBLENDD $0xaa, t4, t3, t3; \
	VPXOR Y14, t3, t3; \
	VPSRLQ $32, t2, t1; \
	VPSUBQ t1, t3, t4; \
	VPCMPGTQ t3, t4, t1; \
	VPSRLQ $32, t1, t1; \
	VPSUBQ t1, t4, t4; \
	VPMULUDQ Y15, t2, t2; \
	VPADDQ t2, t4, t3; \
	VPCMPGTQ t3, t4, t1; \
	VPSRLQ $32, t1, t1; \
	VPADDQ t1, t3, t3; \
	VPXOR Y14, t3, r

#define CONSTANTS4 \
	MOVQ $0xFFFFFFFF, AX; \
	MOVQ AX, X15; \
	VPBROADCASTQ X15, Y15; \
	MOVQ $0x8000000000000000, AX; \
	MOVQ AX, X14; \
	VPBROADCASTQ X14, Y14

// func difAVX2(x, y, w *uint64, n int)
// x[j], y[j] = x[j]+y[j], (x[j]-y[j])*w[j] for j < n, n a multiple of 4.
TEXT ·difAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	CONSTANTS4
	TESTQ CX, CX
	JZ difLoopDone
difLoop:
	VMOVDQU (DI), Y0
	VMOVDQU (SI), Y1
	VMOVDQU (DX), Y2
	ADDMOD4(Y0, Y1, Y3, Y8, Y9)
	SUBMOD4(Y0, Y1, Y4, Y8, Y9)
	MULMOD4(Y4, Y2, Y5, Y6, Y7, Y8, Y9, Y10)
	VMOVDQU Y3, (DI)
	VMOVDQU Y5, (SI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $4, CX
	JNZ difLoop
difLoopDone:
	VZEROUPPER
	RET

// func ditAVX2(x, y, rlast *uint64, n int)
// With v = y[j]*r[last-j] (rlast = &r[last]): x[j], y[j] = x[j]-v, x[j]+v, for j < n.
TEXT ·ditAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ rlast+16(FP), DX
	MOVQ n+24(FP), CX
	CONSTANTS4
	TESTQ CX, CX
	JZ ditLoopDone
ditLoop:
	VMOVDQU -24(DX), Y2
	VPERMQ $0x1b, Y2, Y2 // reversed
	VMOVDQU (DI), Y0
	VMOVDQU (SI), Y1
	MULMOD4(Y1, Y2, Y3, Y6, Y7, Y8, Y9, Y10)
	SUBMOD4(Y0, Y3, Y4, Y8, Y9)
	ADDMOD4(Y0, Y3, Y5, Y8, Y9)
	VMOVDQU Y4, (DI)
	VMOVDQU Y5, (SI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $32, DX
	SUBQ $4, CX
	JNZ ditLoop
ditLoopDone:
	VZEROUPPER
	RET

// func difFineAVX2(x, y, coarse, fine *uint64, n, logS int)
// difAVX2 with w[j] = coarse[j>>logS] * fine[j&(2^logS-1)], 2^logS >= 8.
TEXT ·difFineAVX2(SB), NOSPLIT, $0-48
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
	CONSTANTS4
	CMPQ BX, R12
	JGE difFineLoopDone
difFineLoop:
	MOVQ BX, R8
	SHRQ CX, R8
	VPBROADCASTQ (R10)(R8*8), Y11
	MOVQ BX, R9
	ANDQ R13, R9
	VMOVDQU (R11)(R9*8), Y12
	MULMOD4(Y11, Y12, Y2, Y6, Y7, Y8, Y9, Y10)
	VMOVDQU (DI), Y0
	VMOVDQU (SI), Y1
	ADDMOD4(Y0, Y1, Y3, Y8, Y9)
	SUBMOD4(Y0, Y1, Y4, Y8, Y9)
	MULMOD4(Y4, Y2, Y5, Y6, Y7, Y8, Y9, Y10)
	VMOVDQU Y3, (DI)
	VMOVDQU Y5, (SI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $4, BX
	CMPQ BX, R12
	JLT difFineLoop
difFineLoopDone:
	VZEROUPPER
	RET

// func ditFineAVX2(x, y, coarseTop, fine *uint64, n, logS int)
// ditAVX2 with the factor for j coarseTop[-(j>>logS)] * fine[j&(2^logS-1)], 2^logS >= 8.
TEXT ·ditFineAVX2(SB), NOSPLIT, $0-48
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
	CONSTANTS4
	CMPQ BX, R12
	JGE ditFineLoopDone
ditFineLoop:
	MOVQ BX, R8
	SHRQ CX, R8
	NEGQ R8
	VPBROADCASTQ (R10)(R8*8), Y11
	MOVQ BX, R9
	ANDQ R13, R9
	VMOVDQU (R11)(R9*8), Y12
	MULMOD4(Y11, Y12, Y2, Y6, Y7, Y8, Y9, Y10)
	VMOVDQU (DI), Y0
	VMOVDQU (SI), Y1
	MULMOD4(Y1, Y2, Y3, Y6, Y7, Y8, Y9, Y10)
	SUBMOD4(Y0, Y3, Y4, Y8, Y9)
	ADDMOD4(Y0, Y3, Y5, Y8, Y9)
	VMOVDQU Y4, (DI)
	VMOVDQU Y5, (SI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $4, BX
	CMPQ BX, R12
	JLT ditFineLoop
ditFineLoopDone:
	VZEROUPPER
	RET

// func tailAVX2(a *uint64, n int, w *uint64)
// The last three levels of the forward transform on each block of 8 of a[:n], n a multiple
// of 8. w points to the 16 words of tailAVX512: the factors of the level of distance 4
// (w[0:4]), then those of distance 2 ([1,w'] twice, w[8:12]).
TEXT ·tailAVX2(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), DX
	CONSTANTS4
	VMOVDQU (DX), Y12
	VMOVDQU 64(DX), Y13
	TESTQ CX, CX
	JZ tailLoopDone
tailLoop:
	// distance 4: X = a[0:4], Y = a[4:8]
	VMOVDQU (DI), Y0
	VMOVDQU 32(DI), Y1
	ADDMOD4(Y0, Y1, Y3, Y8, Y9)
	SUBMOD4(Y0, Y1, Y4, Y8, Y9)
	MULMOD4(Y4, Y12, Y1, Y6, Y7, Y8, Y9, Y10)
	// distance 2: P = [X0,X1,Y0,Y1], Q = [X2,X3,Y2,Y3]
	VPERM2I128 $0x20, Y1, Y3, Y2
	VPERM2I128 $0x31, Y1, Y3, Y3
	ADDMOD4(Y2, Y3, Y0, Y8, Y9)
	SUBMOD4(Y2, Y3, Y4, Y8, Y9)
	MULMOD4(Y4, Y13, Y1, Y6, Y7, Y8, Y9, Y10)
	// distance 1: E = [a0,a2,a4,a6], O = [a1,a3,a5,a7] from P = [a0,a1,a4,a5], Q = [a2,a3,a6,a7]
	VPUNPCKLQDQ Y1, Y0, Y2
	VPUNPCKHQDQ Y1, Y0, Y0
	ADDMOD4(Y2, Y0, Y3, Y8, Y9)
	SUBMOD4(Y2, Y0, Y4, Y8, Y9)
	// back in place: [a0,a1,a4,a5] and [a2,a3,a6,a7], then a[0:4] and a[4:8]
	VPUNPCKLQDQ Y4, Y3, Y0
	VPUNPCKHQDQ Y4, Y3, Y1
	VPERM2I128 $0x20, Y1, Y0, Y2
	VPERM2I128 $0x31, Y1, Y0, Y3
	VMOVDQU Y2, (DI)
	VMOVDQU Y3, 32(DI)
	ADDQ $64, DI
	SUBQ $8, CX
	JNZ tailLoop
tailLoopDone:
	VZEROUPPER
	RET

// func headAVX2(a *uint64, n int, w *uint64)
// The first three levels of the inverse transform on each block of 8 of a[:n], n a multiple
// of 8: the reverse of tailAVX2. w points to the 16 words of headAVX512: the factors for
// distance 2 ([-1,w'] twice, w[0:4]), then those for distance 4 ([-1,w3,w2,w1], w[8:12]), each
// used as v = y*f; x, y = x-v, x+v.
TEXT ·headAVX2(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), DX
	CONSTANTS4
	VMOVDQU (DX), Y12
	VMOVDQU 64(DX), Y13
	TESTQ CX, CX
	JZ headLoopDone
headLoop:
	VMOVDQU (DI), Y0
	VMOVDQU 32(DI), Y1
	// distance 1: E = [a0,a4,a2,a6], O = [a1,a5,a3,a7]
	VPUNPCKLQDQ Y1, Y0, Y2
	VPUNPCKHQDQ Y1, Y0, Y0
	ADDMOD4(Y2, Y0, Y3, Y8, Y9)
	SUBMOD4(Y2, Y0, Y4, Y8, Y9)
	// distance 2: X = [a0,a1,a4,a5], Y = [a2,a3,a6,a7]
	VPUNPCKLQDQ Y4, Y3, Y0
	VPUNPCKHQDQ Y4, Y3, Y1
	VPERM2I128 $0x20, Y1, Y0, Y2
	VPERM2I128 $0x31, Y1, Y0, Y3
	MULMOD4(Y3, Y12, Y5, Y6, Y7, Y8, Y9, Y10)
	SUBMOD4(Y2, Y5, Y0, Y8, Y9)
	ADDMOD4(Y2, Y5, Y1, Y8, Y9)
	// distance 4: X = [a0,a1,a2,a3], Y = [a4,a5,a6,a7]
	VPERM2I128 $0x20, Y1, Y0, Y2
	VPERM2I128 $0x31, Y1, Y0, Y3
	MULMOD4(Y3, Y13, Y5, Y6, Y7, Y8, Y9, Y10)
	SUBMOD4(Y2, Y5, Y0, Y8, Y9)
	ADDMOD4(Y2, Y5, Y1, Y8, Y9)
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	ADDQ $64, DI
	SUBQ $8, CX
	JNZ headLoop
headLoopDone:
	VZEROUPPER
	RET

// func mulAVX2(dst, a, b *uint64, n int, scale uint64)
// dst[i] = a[i]*b[i]*scale for i < n, n a multiple of 4; scale 1 is skipped.
TEXT ·mulAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	CONSTANTS4
	VPBROADCASTQ scale+32(FP), Y11
	MOVQ scale+32(FP), BX
	TESTQ CX, CX
	JZ mulDone
	CMPQ BX, $1
	JEQ mulPlain
mulScaled:
	VMOVDQU (SI), Y0
	VMOVDQU (DX), Y1
	MULMOD4(Y0, Y1, Y2, Y6, Y7, Y8, Y9, Y10)
	MULMOD4(Y2, Y11, Y3, Y6, Y7, Y8, Y9, Y10)
	VMOVDQU Y3, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $4, CX
	JNZ mulScaled
	VZEROUPPER
	RET
mulPlain:
	VMOVDQU (SI), Y0
	VMOVDQU (DX), Y1
	MULMOD4(Y0, Y1, Y2, Y6, Y7, Y8, Y9, Y10)
	VMOVDQU Y2, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $4, CX
	JNZ mulPlain
mulDone:
	VZEROUPPER
	RET

// func fwd3AVX2(x0, x1, x2, fine *uint64, n int, base, omega uint64)
// The radix-3 step of the forward transform (see fwd3Kernel), n a multiple of 4.
TEXT ·fwd3AVX2(SB), NOSPLIT, $0-56
	MOVQ x0+0(FP), DI
	MOVQ x1+8(FP), SI
	MOVQ x2+16(FP), DX
	MOVQ fine+24(FP), R8
	MOVQ n+32(FP), CX
	CONSTANTS4
	VPBROADCASTQ base+40(FP), Y12
	VPBROADCASTQ omega+48(FP), Y13
	TESTQ CX, CX
	JZ fwd3LoopDone
fwd3Loop:
	VMOVDQU (DI), Y0
	VMOVDQU (SI), Y1
	VMOVDQU (DX), Y2
	SUBMOD4(Y1, Y2, Y3, Y8, Y9)
	MULMOD4(Y3, Y13, Y4, Y6, Y7, Y8, Y9, Y10) // u
	ADDMOD4(Y0, Y1, Y3, Y8, Y9)
	ADDMOD4(Y3, Y2, Y3, Y8, Y9) // s0
	VMOVDQU Y3, (DI)
	VMOVDQU (R8), Y5
	MULMOD4(Y12, Y5, Y5, Y6, Y7, Y8, Y9, Y10) // w1
	SUBMOD4(Y0, Y2, Y3, Y8, Y9)
	ADDMOD4(Y3, Y4, Y3, Y8, Y9) // s1
	MULMOD4(Y3, Y5, Y3, Y6, Y7, Y8, Y9, Y10)
	VMOVDQU Y3, (SI)
	MULMOD4(Y5, Y5, Y5, Y6, Y7, Y8, Y9, Y10) // w1^2
	SUBMOD4(Y0, Y1, Y3, Y8, Y9)
	SUBMOD4(Y3, Y4, Y3, Y8, Y9) // s2
	MULMOD4(Y3, Y5, Y3, Y6, Y7, Y8, Y9, Y10)
	VMOVDQU Y3, (DX)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	SUBQ $4, CX
	JNZ fwd3Loop
fwd3LoopDone:
	VZEROUPPER
	RET

// func inv3AVX2(x0, x1, x2, fine *uint64, n int, base, omega uint64)
// The radix-3 step of the inverse transform (see inv3Kernel), n a multiple of 4.
TEXT ·inv3AVX2(SB), NOSPLIT, $0-56
	MOVQ x0+0(FP), DI
	MOVQ x1+8(FP), SI
	MOVQ x2+16(FP), DX
	MOVQ fine+24(FP), R8
	MOVQ n+32(FP), CX
	CONSTANTS4
	VPBROADCASTQ base+40(FP), Y12
	VPBROADCASTQ omega+48(FP), Y13
	TESTQ CX, CX
	JZ inv3LoopDone
inv3Loop:
	VMOVDQU (R8), Y5
	MULMOD4(Y12, Y5, Y5, Y6, Y7, Y8, Y9, Y10) // w1
	MULMOD4(Y5, Y5, Y11, Y6, Y7, Y8, Y9, Y10) // w1^2
	VMOVDQU (DI), Y0
	VMOVDQU (SI), Y1
	VMOVDQU (DX), Y2
	MULMOD4(Y1, Y5, Y1, Y6, Y7, Y8, Y9, Y10) // v1
	MULMOD4(Y2, Y11, Y2, Y6, Y7, Y8, Y9, Y10) // v2
	SUBMOD4(Y1, Y2, Y3, Y8, Y9)
	MULMOD4(Y3, Y13, Y4, Y6, Y7, Y8, Y9, Y10) // u
	ADDMOD4(Y0, Y1, Y3, Y8, Y9)
	ADDMOD4(Y3, Y2, Y3, Y8, Y9)
	VMOVDQU Y3, (DI)
	SUBMOD4(Y0, Y2, Y3, Y8, Y9)
	ADDMOD4(Y3, Y4, Y3, Y8, Y9)
	VMOVDQU Y3, (SI)
	SUBMOD4(Y0, Y1, Y3, Y8, Y9)
	SUBMOD4(Y3, Y4, Y3, Y8, Y9)
	VMOVDQU Y3, (DX)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	SUBQ $4, CX
	JNZ inv3Loop
inv3LoopDone:
	VZEROUPPER
	RET
