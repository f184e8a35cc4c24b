package data

import "fmt"

// Subset returns a new Dataset holding copies of the images idx of d, in
// that order (indices may repeat). It panics if an index is outside
// [0, d.Len()).
func (d *Dataset) Subset(idx []int) *Dataset {
	n := d.Len()
	s := &Dataset{
		Images: make([]byte, len(idx)*ImageBytes),
		Labels: make([]uint8, len(idx)),
	}
	for k, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("data: Subset: idx[%d] = %d out of range [0, %d)", k, i, n))
		}
		copy(s.Images[k*ImageBytes:(k+1)*ImageBytes], d.Images[i*ImageBytes:(i+1)*ImageBytes])
		s.Labels[k] = d.Labels[i]
	}
	return s
}
