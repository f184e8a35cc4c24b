package asm

import "fmt"

// Transpose sets dst[j*ldd+i] = src[i*lds+j] for i < rows, j < cols: the rows×cols matrix
// at src (leading dimension lds) becomes the cols×rows matrix at dst (leading dimension
// ldd). On the SIMD paths 8×8 blocks go through the AVX2 transposer of the SGEMM packing.
func Transpose(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if lds < cols || ldd < rows || len(src) < (rows-1)*lds+cols || len(dst) < (cols-1)*ldd+rows {
		panic(fmt.Sprintf("asm: Transpose: %d×%d with lds=%d (len %d), ldd=%d (len %d)", rows, cols, lds, len(src), ldd, len(dst)))
	}
	i := 0
	if t := cur().gemm.transpose8; t != nil && cols >= 8 {
		c8 := cols &^ 7
		for ; i+8 <= rows; i += 8 {
			t(c8, &src[i*lds], lds, &dst[i], ldd)
		}
		for ; i < rows; i++ {
			for j := range c8 {
				dst[j*ldd+i] = src[i*lds+j]
			}
		}
		for i := range rows {
			for j := c8; j < cols; j++ {
				dst[j*ldd+i] = src[i*lds+j]
			}
		}
		return
	}
	for i := range rows {
		s := src[i*lds : i*lds+cols]
		for j, v := range s {
			dst[j*ldd+i] = v
		}
	}
}
