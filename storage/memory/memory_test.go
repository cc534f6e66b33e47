package memory_test

import (
	"testing"

	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/memory"
	"github.com/creditledger/creditledger/storage/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(*testing.T) storage.Store { return memory.New() }, storetest.Capabilities{})
}
