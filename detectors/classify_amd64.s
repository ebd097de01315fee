#include "textflag.h"

// Byte constants, broadcast to every lane.
DATA classifyConsts<>+0(SB)/1, $0x20 // space
DATA classifyConsts<>+1(SB)/1, $0x08 // above: \t \n \v \f \r
DATA classifyConsts<>+2(SB)/1, $0x0e // below: \t \n \v \f \r
DATA classifyConsts<>+3(SB)/1, $0x60 // above: a-z
DATA classifyConsts<>+4(SB)/1, $0x7b // below: a-z
DATA classifyConsts<>+5(SB)/1, $0x40 // above: A-Z
DATA classifyConsts<>+6(SB)/1, $0x5b // below: A-Z
DATA classifyConsts<>+7(SB)/1, $0x0f // nibble
GLOBL classifyConsts<>(SB), RODATA|NOPTR, $8

// Light punctuation ' " , . ! ? ; : ( ) - as nibble tables: bit 0 for
// bytes 0x2_, bit 1 for 0x3_.
DATA punctLo<>+0(SB)/8, $0x0100000000010100
DATA punctLo<>+8(SB)/8, $0x0201010102020101
GLOBL punctLo<>(SB), RODATA|NOPTR, $16
DATA punctHi<>+0(SB)/8, $0x0000000002010000
DATA punctHi<>+8(SB)/8, $0x0000000000000000
GLOBL punctHi<>(SB), RODATA|NOPTR, $16

// func classify64AVX2(p *byte, starts *nibbleTables, m *blockMasks)
TEXT ·classify64AVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ starts+8(FP), DX
	MOVQ m+16(FP), DI

	VPBROADCASTB classifyConsts<>+0(SB), Y15
	VPBROADCASTB classifyConsts<>+1(SB), Y14
	VPBROADCASTB classifyConsts<>+2(SB), Y13
	VPBROADCASTB classifyConsts<>+3(SB), Y12
	VPBROADCASTB classifyConsts<>+4(SB), Y11
	VPBROADCASTB classifyConsts<>+5(SB), Y10
	VPBROADCASTB classifyConsts<>+6(SB), Y9
	VPBROADCASTB classifyConsts<>+7(SB), Y8

// HALF classifies the 32 bytes at off(SI) into five 32-bit masks. The
// compares are signed: bytes from 0x80 up are negative, in no range and
// in neither table, so they come out bad.
#define HALF(off, rspace, rlower, rupper, rbad, rstart) \
	VMOVDQU off(SI), Y0; \
	VPCMPEQB Y0, Y15, Y1; \
	VPCMPGTB Y14, Y0, Y2; \
	VPCMPGTB Y0, Y13, Y3; \
	VPAND Y2, Y3, Y2; \
	VPOR Y1, Y2, Y1; \
	VPMOVMSKB Y1, rspace; \
	VPCMPGTB Y12, Y0, Y2; \
	VPCMPGTB Y0, Y11, Y3; \
	VPAND Y2, Y3, Y2; \
	VPMOVMSKB Y2, rlower; \
	VPCMPGTB Y10, Y0, Y3; \
	VPCMPGTB Y0, Y9, Y4; \
	VPAND Y3, Y4, Y3; \
	VPMOVMSKB Y3, rupper; \
	VPOR Y1, Y2, Y4; \
	VPOR Y3, Y4, Y4; \
	VPAND Y8, Y0, Y5; \
	VPSRLW $4, Y0, Y6; \
	VPAND Y8, Y6, Y6; \
	VBROADCASTI128 punctLo<>(SB), Y7; \
	VPSHUFB Y5, Y7, Y7; \
	VBROADCASTI128 punctHi<>(SB), Y1; \
	VPSHUFB Y6, Y1, Y1; \
	VPAND Y1, Y7, Y7; \
	VPXOR Y2, Y2, Y2; \
	VPCMPEQB Y2, Y7, Y7; \
	VPANDN Y7, Y4, Y7; \
	VPMOVMSKB Y7, rbad; \
	VBROADCASTI128 0(DX), Y7; \
	VPSHUFB Y5, Y7, Y7; \
	VBROADCASTI128 16(DX), Y1; \
	VPSHUFB Y6, Y1, Y1; \
	VPAND Y1, Y7, Y7; \
	VPCMPEQB Y2, Y7, Y7; \
	VPMOVMSKB Y7, rstart; \
	NOTL rstart

	// Each half's masks are 32 bits: the low and the high words of the
	// five uint64 fields of m.
	HALF(0, AX, BX, CX, R8, R9)
	MOVL AX, 0(DI)
	MOVL BX, 8(DI)
	MOVL CX, 16(DI)
	MOVL R8, 24(DI)
	MOVL R9, 32(DI)
	HALF(32, AX, BX, CX, R8, R9)
	MOVL AX, 4(DI)
	MOVL BX, 12(DI)
	MOVL CX, 20(DI)
	MOVL R8, 28(DI)
	MOVL R9, 36(DI)
	VZEROUPPER
	RET
