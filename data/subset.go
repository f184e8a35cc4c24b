package data

import "fmt"

// Subset returns a new Dataset holding copies of the images idx of d, in
// that order (indices may repeat), with d's image size and classes. It
// panics if an index is outside [0, d.Len()).
func (d *Dataset) Subset(idx []int) *Dataset {
	n := d.Len()
	b := d.BytesPerImage()
	s := d.like()
	s.Images, s.Labels = make([]byte, len(idx)*b), make([]uint8, len(idx))
	for k, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("data: Subset: idx[%d] = %d out of range [0, %d)", k, i, n))
		}
		copy(s.Images[k*b:(k+1)*b], d.Images[i*b:(i+1)*b])
		s.Labels[k] = d.Labels[i]
	}
	return s
}
