// Command _gen generates Bonsai's amd64 kernels (../kernels_amd64.s and the Go stubs in
// ../kernels_amd64.go) with avo. Run it through `go generate` in package asm:
//
//	cd asm && go generate
//
// It lives in its own module so that the main module does not depend on avo. CI regenerates
// the files and fails when they differ from the committed ones.
//
// Conventions of the generated code: ABI0 functions with pointer or slice arguments, NOSPLIT,
// no frame; every function that touches YMM/ZMM registers ends with VZEROUPPER. The SGEMM
// micro-kernels use fixed (physical) registers so that the register blocking is visible in
// the output; everything else lets avo allocate. What this generator and the ones in ./conv
// and ./fused emit alike (the kernel's header and exit, the register files, the unrolled
// element loop) lives in ./internal/gen.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	"github.com/bonsai-dl/bonsai/asm/_gen/internal/gen"
)

func main() {
	ConstraintExpr("!noasm,gc")

	sgemmKernel(avx512Tile)
	sgemmKernel(avx2Tile)
	// Narrower variants for the last, partial column tile of C (same per-element FMA
	// sequence, fewer vectors per row): 8×16 and 8×32, 4×8 and 4×16.
	for nv := 1; nv < 3; nv++ {
		sgemmKernel(narrow(avx512Tile, nv))
		sgemmKernel(narrow(avx2Tile, nv))
	}
	// The kernels of the Winograd products (PanelGemm): C = A·B for the first r ≤ 8 rows of
	// an 8-row micro-panel (r < 8: the last, partial panel) and 16, 32 or 48 columns.
	for r := 1; r <= avx512Tile.mr; r++ {
		for nv := 1; nv <= avx512Tile.nv; nv++ {
			sgemmKernel(panelTile(avx512Tile, r, nv))
		}
	}
	fmaPeak("fmaPeakAVX512", 512)
	fmaPeak("fmaPeakAVX2", 256)
	copyRows("copyRows48AVX512", 48, 512)
	copyRows("copyRows24AVX2", 24, 256)
	copyRows("copyRows8AVX2", 8, 256)
	copyRows("copyRows4AVX2", 4, 128)
	transpose8()
	tileEpilogue()
	// The matrix-vector products of SgemvPacked: 8 panels, or one, of the AVX-512 (8 rows)
	// and AVX2 (4 rows) packed layouts.
	for _, mr := range []int{avx512Tile.mr, avx2Tile.mr} {
		gemvKernel(mr, 8)
		gemvKernel(mr, 1)
	}
	// The products of SgemmPacked with at most 4 columns of B (a convolution's output
	// pixels on a 2×2 map, the last pixel of a 7×7 one): 1, 2, 4 or 8 panels by 1 to 4
	// columns, at most 8 chains.
	for _, mr := range []int{avx512Tile.mr, avx2Tile.mr} {
		for cols := 1; cols <= 4; cols++ {
			for panels := 1; panels*cols <= 8; panels *= 2 {
				gemmNarrowKernel(mr, panels, cols)
			}
		}
	}
	elementwise()

	Generate()
}

// aPrefetch is how far ahead of its k-loop an SGEMM micro-kernel prefetches packed op(A).
const aPrefetch = 1024

// tile describes one register-blocked SGEMM micro-kernel: an mr×nr tile of C held in mr·nv
// vector accumulators of width lanes, nr = nv·lanes.
type tile struct {
	name  string
	mr    int // rows of C per tile (broadcast elements of packed A per k-step)
	nv    int // vectors per row (nr = nv·lanes)
	bits  int // vector width: 256 (AVX2, YMM) or 512 (AVX-512, ZMM)
	isa   string
	accs  []VecPhysical // accumulators, row i vector v = accs[i*nv+v]
	bvec  []VecPhysical // the nv vectors of one row of B
	bcast []VecPhysical // broadcast registers used in rotation
	// stride, when set, is the floats per k-step of packed A (the panel height) where the
	// tile may compute fewer rows than the panel has (panelTile); 0 means mr.
	stride int
	// panel makes the kernel a PanelGemm kernel (panelTile): C = A·B, without alpha and
	// beta, and without prefetching the tile of C.
	panel bool
}

// aStride returns the floats per k-step of the tile's packed A.
func (t tile) aStride() int {
	if t.stride > 0 {
		return t.stride
	}
	return t.mr
}

func (t tile) lanes() int { return t.bits / 32 }
func (t tile) nr() int    { return t.nv * t.lanes() }

// AVX-512: 8×48, 24 ZMM accumulators, 3 for a row of B, 5 broadcast registers. Per k-step 3
// vector loads, 8 broadcasts and 24 FMAs (12 cycles at two 512-bit FMAs per cycle).
var avx512Tile = tile{name: "sgemmKernel8x48AVX512", mr: 8, nv: 3, bits: 512, isa: "AVX-512F",
	accs: gen.Z[:24], bvec: gen.Z[24:27], bcast: gen.Z[27:32]}

// AVX2: 4×24, 12 YMM accumulators, 3 for a row of B, 1 broadcast register. Per k-step 3
// vector loads, 4 broadcasts and 12 FMAs (6 cycles at two 256-bit FMAs per cycle).
var avx2Tile = tile{name: "sgemmKernel4x24AVX2", mr: 4, nv: 3, bits: 256, isa: "AVX2 and FMA3",
	accs: gen.Y[:12], bvec: gen.Y[12:15], bcast: gen.Y[15:16]}

// narrow returns t with nv vectors per row instead of t.nv, on the same register file.
func narrow(t tile, nv int) tile {
	regs := gen.Regs(t.bits)
	n := t.mr * nv
	t.nv = nv
	t.name = fmt.Sprintf("sgemmKernel%dx%d%s", t.mr, nv*t.lanes(), gen.ISA(t.bits))
	t.accs = regs[:n]
	t.bvec = regs[n : n+nv]
	t.bcast = regs[n+nv : min(len(regs), n+nv+4)]
	return t
}

// panelTile returns t as a PanelGemm kernel (see sgemmKernel) computing only its first
// r ≤ t.mr rows, with nv vectors per row, from micro-panels packed t.mr rows per k-step:
// the same per-element FMA sequence as t for those rows.
func panelTile(t tile, r, nv int) tile {
	regs := gen.Regs(t.bits)
	n := r * nv
	t.name = fmt.Sprintf("panelKernel%dof%dx%d%s", r, t.mr, nv*t.lanes(), gen.ISA(t.bits))
	t.stride, t.panel = t.mr, true
	t.mr, t.nv = r, nv
	t.accs = regs[:n]
	t.bvec = regs[n : n+nv]
	t.bcast = regs[n+nv : min(len(regs), n+nv+5)]
	return t
}

// sgemmKernel emits
//
//	func name(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)
//
// which computes one full mr×nr tile of C:
//
//	s[i][j] = Σ_{p<k} a[p*mr+i]·b[p*ldb+j]     (one FMA chain per element, p increasing)
//	c[i*ldc+j] = alpha·s[i][j]                 if beta == 0 (old C ignored, even NaN)
//	c[i*ldc+j] = alpha·s[i][j] + beta·c[i*ldc+j] otherwise (products rounded, then added)
//
// for i < mr, j < nr. a is a packed micro-panel of op(A) (mr floats per k-step), b points at
// k rows of nr floats, ldb floats apart (nr for a packed micro-panel of op(B), the matrix's
// own leading dimension when B is used in place). k ≥ 1.
//
// A panel tile (panelTile) emits instead
//
//	func name(k int, a, b *float32, ldb int, c *float32, ldc int)
//
// which sets c[i*ldc+j] = s[i][j], with a packed t.stride floats per k-step.
func sgemmKernel(t tile) {
	if t.panel {
		gen.Kernel(t.name, "func(k int, a, b *float32, ldb int, c *float32, ldc int)",
			fmt.Sprintf("%s computes one %d×%d tile of a Winograd product with %s (see sgemmKernel in _gen/main.go):", t.name, t.mr, t.nr(), t.isa),
			fmt.Sprintf("c[i*ldc+j] = Σ_p a[p*%d+i]·b[p*ldb+j], one FMA chain per element.", t.aStride()))
	} else {
		gen.Kernel(t.name, "func(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)",
			fmt.Sprintf("%s computes one %d×%d tile of C with %s (see sgemmKernel in _gen/main.go):", t.name, t.mr, t.nr(), t.isa),
			fmt.Sprintf("c[i*ldc+j] = alpha·Σ_p a[p*%d+i]·b[p*ldb+j] (+ beta·c[i*ldc+j] when beta != 0), one FMA chain per element.", t.aStride()))
	}
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldb) // bytes
	SHLQ(U8(2), ldc)
	ldb3 := GP64()
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, ldb3)
	ldb4 := GP64()
	MOVQ(ldb, ldb4)
	SHLQ(U8(2), ldb4)

	// Prefetch the tile of C (mr rows of nr·4 bytes, 4 lines each when unaligned), so that
	// the merge after the k-loop does not wait for memory.
	if !t.panel {
		cp := GP64()
		MOVQ(c, cp)
		for i := 0; i < t.mr; i++ {
			for off := 0; off < t.nr()*4; off += 64 {
				PREFETCHT0(Mem{Base: cp, Disp: off})
			}
			PREFETCHT0(Mem{Base: cp, Disp: t.nr()*4 - 1})
			if i+1 < t.mr {
				ADDQ(ldc, cp)
			}
		}
	}
	for _, r := range t.accs {
		gen.Zero(r, t.bits)
	}
	vbytes := t.bits / 8
	nb := 0 // rotating broadcast register
	step := func(bRow Mem, aOff int) {
		for v := 0; v < t.nv; v++ {
			VMOVUPS(bRow.Offset(v*vbytes), t.bvec[v])
		}
		for i := 0; i < t.mr; i++ {
			bc := t.bcast[nb%len(t.bcast)]
			nb++
			VBROADCASTSS(Mem{Base: a, Disp: aOff + 4*i}, bc)
			for v := 0; v < t.nv; v++ {
				VFMADD231PS(bc, t.bvec[v], t.accs[i*t.nv+v])
			}
		}
	}
	const unroll = 4
	Label(t.name + "_loop4")
	CMPQ(k, U8(unroll))
	JL(LabelRef(t.name + "_tail"))
	// Prefetch the packed op(A) stream aPrefetch bytes ahead (an unrolled iteration reads
	// 4·mr floats): at batch 1 the weights of a layer stream from memory through narrow
	// tiles whose few FMAs per element of A leave the hardware prefetcher behind.
	as := t.aStride()
	for off := 0; off < unroll*4*as; off += 64 {
		PREFETCHT0(Mem{Base: a, Disp: aPrefetch + off})
	}
	step(Mem{Base: b}, 0)
	step(Mem{Base: b, Index: ldb, Scale: 1}, 4*as)
	step(Mem{Base: b, Index: ldb, Scale: 2}, 8*as)
	step(Mem{Base: b, Index: ldb3, Scale: 1}, 12*as)
	ADDQ(ldb4, b)
	ADDQ(U32(unroll*4*as), a)
	SUBQ(U8(unroll), k)
	JMP(LabelRef(t.name + "_loop4"))

	Label(t.name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(t.name + "_merge"))
	step(Mem{Base: b}, 0)
	ADDQ(ldb, b)
	ADDQ(U32(4*as), a)
	DECQ(k)
	JMP(LabelRef(t.name + "_tail"))

	Label(t.name + "_merge")
	if !t.panel {
		merge(t, c, ldc)
	}
	Label(t.name + "_store")
	for i := 0; i < t.mr; i++ {
		for v := 0; v < t.nv; v++ {
			VMOVUPS(t.accs[i*t.nv+v], Mem{Base: c, Disp: v * vbytes})
		}
		if i+1 < t.mr {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// merge emits the alpha and beta of sgemmKernel after the k-loop: a jump to name_store
// when beta == 0, else the merge with the old C and the return.
func merge(t tile, c, ldc Register) {
	vbytes := t.bits / 8
	alpha, _ := Param("alpha").Resolve()
	beta, _ := Param("beta").Resolve()
	spare := append(append([]VecPhysical{}, t.bvec...), t.bcast...) // free after the k-loop
	va, vb, tmp := spare[0], spare[1], spare[2]
	VBROADCASTSS(alpha.Addr, va)
	for _, r := range t.accs {
		VMULPS(va, r, r)
	}
	bbits := GP32()
	MOVL(beta.Addr, bbits)
	ANDL(U32(0x7fffffff), bbits) // beta == ±0
	JZ(LabelRef(t.name + "_store"))
	VBROADCASTSS(beta.Addr, vb)
	for i := 0; i < t.mr; i++ {
		for v := 0; v < t.nv; v++ {
			m := Mem{Base: c, Disp: v * vbytes}
			VMULPS(m, vb, tmp)
			VADDPS(tmp, t.accs[i*t.nv+v], t.accs[i*t.nv+v])
			VMOVUPS(t.accs[i*t.nv+v], m)
		}
		if i+1 < t.mr {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// fmaPeak emits func name(n int): n iterations of 24 FMAs over 12 independent accumulator
// chains (2 per chain per iteration), i.e. n·24·lanes·2 floating-point operations. With an
// FMA latency of 4 cycles and two FMA pipes, 8 chains keep the pipes full; 12 leave slack.
func fmaPeak(name string, bits int) {
	TEXT(name, NOSPLIT, "func(n int)")
	Doc(fmt.Sprintf("%s runs n iterations of 24 independent %d-bit FMAs (12 chains): the FMA peak.", name, bits))
	n := Load(Param("n"), GP64())
	regs := gen.Regs(bits)
	acc := regs[:12]
	x, y := regs[12], regs[13]
	for _, r := range append(acc, x, y) {
		gen.Zero(r, bits)
	}
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	for u := 0; u < 2; u++ {
		for _, r := range acc {
			VFMADD231PS(x, y, r)
		}
	}
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	gen.Done(name)
}

// copyRows emits func name(rows int, src *float32, lds int, dst *float32, ldd int):
// dst[p*ldd+j] = src[p*lds+j] for p < rows, j < w — the packing of full-width micro-panels
// whose source rows are contiguous (op(B) not transposed, or op(A) transposed): either one
// micro-panel walking down the rows (ldd = w), or one source row scattered over
// consecutive micro-panels (lds = w, ldd = w·kb).
func copyRows(name string, w, bits int) {
	gen.Kernel(name, copySig("rows"), fmt.Sprintf("%s sets dst[p*ldd+j] = src[p*lds+j] for p < rows, j < %d.", name, w))
	rows, src, lds, dst, ldd := loadCopyArgs("rows")
	vbytes := bits / 8
	nv := w * 4 / vbytes
	var regs []VecVirtual
	for i := 0; i < 2*nv; i++ {
		regs = append(regs, gen.NewVec(bits))
	}
	Label(name + "_loop2")
	CMPQ(rows, U8(2))
	JL(LabelRef(name + "_tail"))
	for v := 0; v < nv; v++ {
		VMOVUPS(Mem{Base: src, Disp: v * vbytes}, regs[v])
		VMOVUPS(Mem{Base: src, Index: lds, Scale: 1, Disp: v * vbytes}, regs[nv+v])
	}
	for v := 0; v < nv; v++ {
		VMOVUPS(regs[v], Mem{Base: dst, Disp: v * vbytes})
		VMOVUPS(regs[nv+v], Mem{Base: dst, Index: ldd, Scale: 1, Disp: v * vbytes})
	}
	LEAQ(Mem{Base: src, Index: lds, Scale: 2}, src)
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 2}, dst)
	SUBQ(U8(2), rows)
	JMP(LabelRef(name + "_loop2"))
	Label(name + "_tail")
	TESTQ(rows, rows)
	JZ(LabelRef(name + "_done"))
	for v := 0; v < nv; v++ {
		VMOVUPS(Mem{Base: src, Disp: v * vbytes}, regs[v])
		VMOVUPS(regs[v], Mem{Base: dst, Disp: v * vbytes})
	}
	Label(name + "_done")
	if bits > 128 {
		VZEROUPPER()
	}
	RET()
}

// copySig is the Go signature of the packing kernels, copyRows and transpose8, with count
// the name of their first parameter.
func copySig(count string) string {
	return "func(" + count + " int, src *float32, lds int, dst *float32, ldd int)"
}

// loadCopyArgs loads the parameters of copySig(count), the leading dimensions lds and
// ldd turned into bytes.
func loadCopyArgs(count string) (n, src, lds, dst, ldd Register) {
	n = Load(Param(count), GP64())
	src = Load(Param("src"), GP64())
	lds = Load(Param("lds"), GP64())
	dst = Load(Param("dst"), GP64())
	ldd = Load(Param("ldd"), GP64())
	SHLQ(U8(2), lds)
	SHLQ(U8(2), ldd)
	return n, src, lds, dst, ldd
}

// transpose8 emits func transpose8AVX2(k int, src *float32, lds int, dst *float32, ldd int):
// dst[p*ldd+i] = src[i*lds+p] for i < 8, p < k &^ 7 — eight rows of src become eight
// columns of dst, one 8×8 block (8 loads, 24 shuffles, 8 stores) at a time. It packs op(A)
// (not transposed) into 8-row micro-panels and op(B) (transposed) into nr-column ones.
func transpose8() {
	gen.Kernel("transpose8AVX2", copySig("k"), "transpose8AVX2 sets dst[p*ldd+i] = src[i*lds+p] for i < 8, p < k &^ 7 (AVX2).")
	k, src, lds, dst, ldd := loadCopyArgs("k")
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	ldd3 := GP64()
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	s4 := GP64() // src + 4 rows
	d4 := GP64() // dst + 4 rows
	ANDQ(I32(-8), k)
	Label("transpose8_loop")
	TESTQ(k, k)
	JZ(LabelRef("transpose8_done"))
	LEAQ(Mem{Base: src, Index: lds, Scale: 4}, s4)
	r := make([]VecVirtual, 8)
	for i := range r {
		r[i] = YMM()
	}
	rowMem := func(base, ld, ld3 Register, i int) Mem {
		b := base
		if i >= 4 {
			i -= 4
		}
		switch i {
		case 0:
			return Mem{Base: b}
		case 1:
			return Mem{Base: b, Index: ld, Scale: 1}
		case 2:
			return Mem{Base: b, Index: ld, Scale: 2}
		}
		return Mem{Base: b, Index: ld3, Scale: 1}
	}
	for i := 0; i < 8; i++ {
		base := src
		if i >= 4 {
			base = s4
		}
		VMOVUPS(rowMem(base, lds, lds3, i), r[i])
	}
	t := make([]VecVirtual, 8)
	for i := range t {
		t[i] = YMM()
	}
	for i := 0; i < 4; i++ {
		VUNPCKLPS(r[2*i+1], r[2*i], t[2*i])   // a0 b0 a1 b1 | a4 b4 a5 b5
		VUNPCKHPS(r[2*i+1], r[2*i], t[2*i+1]) // a2 b2 a3 b3 | a6 b6 a7 b7
	}
	u := make([]VecVirtual, 8)
	for i := range u {
		u[i] = YMM()
	}
	for h := 0; h < 2; h++ { // rows 0-3, rows 4-7
		lo, hi := t[4*h], t[4*h+1]
		lo2, hi2 := t[4*h+2], t[4*h+3]
		VSHUFPS(U8(0x44), lo2, lo, u[4*h+0]) // a0 b0 c0 d0 | a4 b4 c4 d4
		VSHUFPS(U8(0xEE), lo2, lo, u[4*h+1]) // a1 b1 c1 d1 | a5 b5 c5 d5
		VSHUFPS(U8(0x44), hi2, hi, u[4*h+2]) // a2 … | a6 …
		VSHUFPS(U8(0xEE), hi2, hi, u[4*h+3]) // a3 … | a7 …
	}
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 4}, d4)
	for q := 0; q < 4; q++ {
		o := YMM()
		VPERM2F128(U8(0x20), u[4+q], u[q], o) // column q
		VMOVUPS(o, rowMem(dst, ldd, ldd3, q))
		o2 := YMM()
		VPERM2F128(U8(0x31), u[4+q], u[q], o2) // column q+4
		VMOVUPS(o2, rowMem(d4, ldd, ldd3, q+4))
	}
	ADDQ(U8(32), src)
	LEAQ(Mem{Base: d4, Index: ldd, Scale: 4}, dst)
	SUBQ(U8(8), k)
	JMP(LabelRef("transpose8_loop"))
	Label("transpose8_done")
	VZEROUPPER()
	RET()
}

// tileEpilogue emits
//
//	func tileEpilogue48AVX512(c *float32, ldc int, rows int, masks int, bias *float32, r *float32, ldr int, relu int, hi float32)
//
// which applies SgemmPacked's epilogue to rows rows of up to 48 floats of C (3 ZMM per
// row, the lanes of vector v enabled by bits 16v…16v+15 of masks), in place:
//
//	c[i*ldc+j] = c[i*ldc+j] + bias[i]             (a product by a scale of 1 is exact)
//	c[i*ldc+j] += r[i*ldr+j]                      when r != nil
//	c[i*ldc+j] = c > 0 ? c : +0                   when relu != 0
//	c[i*ldc+j] = c > 0 ? c : 0; c < hi ? c : hi   when hi > 0 (Clamp(c, c, 0, hi))
//
// each step rounded, as ScaleShift, Add and ScaleShiftAddRelu with a scale of 1, then
// Clamp. The disabled lanes of C and r are neither read nor written.
func tileEpilogue() {
	const name = "tileEpilogue48AVX512"
	gen.Kernel(name, "func(c *float32, ldc int, rows int, masks int, bias *float32, r *float32, ldr int, relu int, hi float32)",
		name+" applies the epilogue of SgemmPacked to rows rows of up to 48 floats of C (see tileEpilogue in _gen/main.go):",
		"c[i][j] = clip(relu?((c[i][j] + bias[i]) + r[i][j])), the residual r optional (nil), the clip to [0, hi] when hi > 0,",
		"each addition rounded; lane j of C and r is used when bit j of masks is set.")
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	rows := Load(Param("rows"), GP64())
	masks := GP64()
	Load(Param("masks"), masks)
	bias := Load(Param("bias"), GP64())
	r := Load(Param("r"), GP64())
	ldr := Load(Param("ldr"), GP64())
	relu := Load(Param("relu"), GP64())
	SHLQ(U8(2), ldc)
	SHLQ(U8(2), ldr)
	ks := []OpmaskPhysical{K1, K2, K3}
	for v := range 3 {
		KMOVW(masks.As32(), ks[v])
		SHRQ(U8(16), masks)
	}
	zero := gen.Z[31]
	gen.Zero(zero, 512)
	hi := gen.Z[29]
	hm, _ := Param("hi").Resolve()
	VBROADCASTSS(hm.Addr, hi)
	b := gen.Z[30]
	x := gen.Z[:3]
	t := gen.Z[3:6]
	body := func(label string, withR, withRelu, withClip bool) {
		Label(label)
		TESTQ(rows, rows)
		JZ(LabelRef(name + "_done"))
		VBROADCASTSS(Mem{Base: bias}, b)
		for v := 0; v < 3; v++ {
			VMOVUPS_Z(Mem{Base: c, Disp: 64 * v}, ks[v], x[v])
			VADDPS(b, x[v], x[v])
			if withR {
				VMOVUPS_Z(Mem{Base: r, Disp: 64 * v}, ks[v], t[v])
				VADDPS(t[v], x[v], x[v])
			}
			if withRelu || withClip {
				VMAXPS(zero, x[v], x[v])
			}
			if withClip {
				VMINPS(hi, x[v], x[v])
			}
			VMOVUPS(x[v], ks[v], Mem{Base: c, Disp: 64 * v})
		}
		ADDQ(ldc, c)
		if withR {
			ADDQ(ldr, r)
		}
		ADDQ(U8(4), bias)
		DECQ(rows)
		JMP(LabelRef(label))
	}
	// The eight variants: residual or not, ReLU or not, clip or not (hi > 0).
	clip := GP64()
	XORQ(clip, clip)
	VUCOMISS(zero.AsX(), hi.AsX())
	SETHI(clip.As8())
	for _, withR := range []bool{true, false} {
		for _, withRelu := range []bool{true, false} {
			for _, withClip := range []bool{true, false} {
				lbl := fmt.Sprintf("%s_r%v_relu%v_clip%v", name, withR, withRelu, withClip)
				next := lbl + "_skip"
				if withR {
					TESTQ(r, r)
					JZ(LabelRef(next))
				} else {
					TESTQ(r, r)
					JNZ(LabelRef(next))
				}
				TESTQ(relu, relu)
				if withRelu {
					JZ(LabelRef(next))
				} else {
					JNZ(LabelRef(next))
				}
				TESTQ(clip, clip)
				if withClip {
					JZ(LabelRef(next))
				} else {
					JNZ(LabelRef(next))
				}
				body(lbl, withR, withRelu, withClip)
				Label(next)
			}
		}
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// gemvKernel emits
//
//	func name(k int, a *float32, lda int, x *float32, c *float32, add int)
//
// which computes panels consecutive mr-row micro-panels of a packed op(A) (PackA's layout:
// mr floats per k-step, lda floats from one panel to the next) times the vector x, k ≥ 1
// steps deep, into the panels·mr floats at c:
//
//	s[i] = Σ_{p<k} a[g·lda + p·mr + i%mr]·x[p]   (g = i/mr; one FMA chain per element, p increasing, from zero)
//	c[i] = s[i]            when add == 0
//	c[i] = s[i] + c[i]     otherwise
//
// the per-element sequence of the SGEMM micro-kernels with alpha 1 and beta 0 or 1, so
// that a product by one column (SgemvPacked) is bit for bit SgemmPacked's. The mr floats
// of a k-step are one vector (YMM for mr = 8, XMM for mr = 4); panels ≤ 8 accumulators
// run side by side to hide the FMA latency.
func gemvKernel(mr, panels int) {
	bits := 32 * mr
	name := fmt.Sprintf("gemv%dx%d", panels, mr)
	gen.Kernel(name, "func(k int, a *float32, lda int, x *float32, c *float32, add int)",
		fmt.Sprintf("%s multiplies %d packed %d-row micro-panels by a vector (see gemvKernel in _gen/main.go):", name, panels, mr),
		fmt.Sprintf("c[i] = Σ_p a[(i/%d)·lda + p·%d + i%%%d]·x[p] (+ c[i] when add != 0), one FMA chain per element.", mr, mr, mr))
	vec := func(i int) VecPhysical { return panelVec(bits, i) }
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	x := Load(Param("x"), GP64())
	c := Load(Param("c"), GP64())
	SHLQ(U8(2), lda)      // bytes
	var lda3, a4 Register // for panels 3 and 4…7
	if panels > 3 {
		lda3 = GP64()
		LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	}
	if panels > 4 {
		a4 = GP64()
		LEAQ(Mem{Base: a, Index: lda, Scale: 4}, a4)
	}
	advance := func(bytes int) {
		ADDQ(U32(bytes), a)
		if a4 != nil {
			ADDQ(U32(bytes), a4)
		}
	}
	// panel g's k-step at byte offset off.
	at := func(g, off int) Mem { return panelMem(a, a4, lda, lda3, g, off) }
	accs := make([]VecPhysical, panels)
	for g := range accs {
		accs[g] = vec(g)
		VXORPS(accs[g], accs[g], accs[g])
	}
	bc := []VecPhysical{vec(8), vec(9), vec(10), vec(11)}
	step := func(u int) {
		b := bc[u%len(bc)]
		VBROADCASTSS(Mem{Base: x, Disp: 4 * u}, b)
		for g := range accs {
			VFMADD231PS(at(g, 4*mr*u), b, accs[g])
		}
	}
	const unroll = 4
	Label(name + "_loop4")
	CMPQ(k, U8(unroll))
	JL(LabelRef(name + "_tail"))
	for u := range unroll {
		step(u)
	}
	advance(unroll * 4 * mr)
	ADDQ(U8(4*unroll), x)
	SUBQ(U8(unroll), k)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_merge"))
	step(0)
	advance(4 * mr)
	ADDQ(U8(4), x)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))
	mergeStore(name, accs, c, mr)
}

// mergeStore ends a kernel whose accumulators accs hold mr floats each: at name_merge it
// adds the values at dst (accumulator i at dst + 4·mr·i bytes) when the parameter add is not
// 0, then stores the accumulators there and returns.
func mergeStore(name string, accs []VecPhysical, dst Register, mr int) {
	Label(name + "_merge")
	add := Load(Param("add"), GP64())
	TESTQ(add, add)
	JZ(LabelRef(name + "_store"))
	for i := range accs {
		VADDPS(Mem{Base: dst, Disp: i * 4 * mr}, accs[i], accs[i])
	}
	Label(name + "_store")
	for i := range accs {
		VMOVUPS(accs[i], Mem{Base: dst, Disp: i * 4 * mr})
	}
	VZEROUPPER()
	RET()
}

// gemmNarrowKernel writes gemmn{panels}x{mr}c{cols}: panels (1, 2, 4 or 8) consecutive
// packed mr-row micro-panels of op(A), lda floats apart, times cols columns of B (row p at
// b + p·ldb) over k k-steps, with the packed rows as the vectors and each B element
// broadcast: t[(g·cols + j)·mr + i] = Σ_p a[g·lda + p·mr + i]·b[p·ldb + j] (+ t[…] when add
// != 0), one FMA chain per element in the order of p, as the SGEMM micro-kernels compute
// an element over a kc slice. panels·cols ≤ 8 chains in flight hide the FMA latency.
func gemmNarrowKernel(mr, panels, cols int) {
	bits := 32 * mr
	name := fmt.Sprintf("gemmn%dx%dc%d", panels, mr, cols)
	gen.Kernel(name, "func(k int, a *float32, lda int, b *float32, ldb int, t *float32, add int)",
		fmt.Sprintf("%s multiplies %d packed %d-row micro-panels by %d columns of B (see gemmNarrowKernel in _gen/main.go):", name, panels, mr, cols),
		fmt.Sprintf("t[(g·%d + j)·%d + i] = Σ_p a[g·lda + p·%d + i]·b[p·ldb + j] (+ t[…] when add != 0), one FMA chain per element.", cols, mr, mr))
	vec := func(i int) VecPhysical { return panelVec(bits, i) }
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	t := Load(Param("t"), GP64())
	SHLQ(U8(2), lda) // bytes
	SHLQ(U8(2), ldb)
	var lda3, a4 Register
	if panels > 2 {
		lda3 = GP64()
		LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	}
	if panels > 4 {
		a4 = GP64()
		LEAQ(Mem{Base: a, Index: lda, Scale: 4}, a4)
	}
	// pf runs panels·lda ahead of a: the next call's panels (the weights are streamed from
	// memory, and the hardware prefetchers stop at page boundaries).
	pf := GP64()
	MOVQ(lda, pf)
	for q := panels; q > 1; q /= 2 {
		SHLQ(U8(1), pf)
	}
	ADDQ(a, pf)
	var pf4 Register
	if panels > 4 {
		pf4 = GP64()
		LEAQ(Mem{Base: pf, Index: lda, Scale: 4}, pf4)
	}
	// panel g's data at byte offset off, from base (a) or base4 (a + 4·lda).
	at := func(base, base4 Register, g, off int) Mem { return panelMem(base, base4, lda, lda3, g, off) }
	accs := make([]VecPhysical, panels*cols)
	for i := range accs {
		accs[i] = vec(i)
		VXORPS(accs[i], accs[i], accs[i])
	}
	av := []VecPhysical{vec(8), vec(9), vec(10), vec(11)}
	bc := []VecPhysical{vec(12), vec(13), vec(14), vec(15)}
	step := func(u int) {
		if cols == 1 { // each element of A is used once: FMAs from memory
			VBROADCASTSS(Mem{Base: b}, bc[0])
			for g := range panels {
				VFMADD231PS(at(a, a4, g, 4*mr*u), bc[0], accs[g])
			}
			ADDQ(ldb, b)
			return
		}
		for g := range panels {
			VMOVUPS(at(a, a4, g, 4*mr*u), av[g])
		}
		for j := range cols {
			VBROADCASTSS(Mem{Base: b, Disp: 4 * j}, bc[j])
			for g := range panels {
				VFMADD231PS(av[g], bc[j], accs[g*cols+j])
			}
		}
		ADDQ(ldb, b)
	}
	advance := func(bytes int) {
		ADDQ(U32(bytes), a)
		ADDQ(U32(bytes), pf)
		if a4 != nil {
			ADDQ(U32(bytes), a4)
			ADDQ(U32(bytes), pf4)
		}
	}
	const unroll = 4
	Label(name + "_loop4")
	CMPQ(k, U8(unroll))
	JL(LabelRef(name + "_tail"))
	for u := range unroll {
		step(u)
	}
	for g := range panels { // the 4·mr floats of each panel these steps read, a call ahead
		for off := 0; off < unroll*4*mr; off += 64 {
			PREFETCHT0(at(pf, pf4, g, off))
		}
	}
	advance(unroll * 4 * mr)
	SUBQ(U8(unroll), k)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_merge"))
	step(0)
	advance(4 * mr)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))
	mergeStore(name, accs, t, mr)
}

// panelVec returns vector register i at the width of a micro-panel's rows (bits 128: X, else Y).
func panelVec(bits, i int) VecPhysical {
	if bits == 128 {
		return gen.Y[i].AsX().(VecPhysical)
	}
	return gen.Y[i]
}

// panelMem addresses packed micro-panel g (0…7), lda bytes apart, at byte offset off: from
// base for g < 4 (lda3 = 3·lda), from base4 = base + 4·lda for the others.
func panelMem(base, base4, lda, lda3 Register, g, off int) Mem {
	if g >= 4 {
		base, g = base4, g-4
	}
	switch g {
	case 0:
		return Mem{Base: base, Disp: off}
	case 1:
		return Mem{Base: base, Index: lda, Scale: 1, Disp: off}
	case 2:
		return Mem{Base: base, Index: lda, Scale: 2, Disp: off}
	}
	return Mem{Base: base, Index: lda3, Scale: 1, Disp: off}
}
