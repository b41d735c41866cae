//go:build linux

package uring

import "unsafe"

// SQRingOffsets is struct io_sqring_offsets: where each field of the submission
// ring lies in its mapping, as the kernel reports it at set-up.
type SQRingOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

// CQRingOffsets is struct io_cqring_offsets.
type CQRingOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

// Params is struct io_uring_params.
type Params struct {
	SqEntries, CqEntries, Flags, SqThreadCPU, SqThreadIdle, Features, WqFd uint32
	Resv                                                                   [3]uint32
	SqOff                                                                  SQRingOffsets
	CqOff                                                                  CQRingOffsets
}

// SQE is struct io_uring_sqe (64 bytes). The unions are named after the member coio
// uses: Off is also addr2, OpFlags is msg_flags/accept_flags/cancel_flags/...,
// BufIndex is also buf_group, FileIndex is also splice_fd_in.
type SQE struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpFlags     uint32
	UserData    uint64
	BufIndex    uint16
	Personality uint16
	FileIndex   uint32
	Addr3       uint64
	_           uint64
}

// CQE is struct io_uring_cqe (16 bytes).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// GetEventsArg is struct io_uring_getevents_arg, passed with EnterExtArg.
type GetEventsArg struct {
	Sigmask     uint64
	SigmaskSz   uint32
	MinWaitUsec uint32
	Ts          uint64
}

// BufReg is struct io_uring_buf_reg for RegisterPbufRing.
type BufReg struct {
	RingAddr    uint64
	RingEntries uint32
	Bgid        uint16
	Flags       uint16
	MinLeft     uint32
	Resv        [5]uint32
}

// ProbeOp is struct io_uring_probe_op.
type ProbeOp struct {
	Op    uint8
	Resv  uint8
	Flags uint16
	Resv2 uint32
}

// Probe is struct io_uring_probe with room for every opcode.
type Probe struct {
	LastOp uint8
	OpsLen uint8
	Resv   uint16
	Resv2  [3]uint32
	Ops    [256]ProbeOp
}

// Compile-time layout checks, both directions: a size change fails the build.
var (
	_ [64 - unsafe.Sizeof(SQE{})]byte
	_ [unsafe.Sizeof(SQE{}) - 64]byte
	_ [16 - unsafe.Sizeof(CQE{})]byte
	_ [unsafe.Sizeof(CQE{}) - 16]byte
	_ [120 - unsafe.Sizeof(Params{})]byte
	_ [unsafe.Sizeof(Params{}) - 120]byte
	_ [24 - unsafe.Sizeof(GetEventsArg{})]byte
	_ [unsafe.Sizeof(GetEventsArg{}) - 24]byte
	_ [40 - unsafe.Sizeof(BufReg{})]byte
	_ [unsafe.Sizeof(BufReg{}) - 40]byte
)

// mmap offsets.
const (
	offSQRing   = 0x0
	offCQRing   = 0x8000000
	offSQEs     = 0x10000000
	offPbufRing = 0x80000000
)

// Setup flags (Params.Flags).
const (
	SetupCQSize       = 1 << 3
	SetupClamp        = 1 << 4
	SetupSubmitAll    = 1 << 7
	SetupCoopTaskrun  = 1 << 8
	SetupTaskrunFlag  = 1 << 9
	SetupSingleIssuer = 1 << 12
	SetupDeferTaskrun = 1 << 13
	SetupNoSQArray    = 1 << 16
)

// Features (Params.Features).
const (
	FeatSingleMmap     = 1 << 0
	FeatNoDrop         = 1 << 1
	FeatSubmitStable   = 1 << 2
	FeatFastPoll       = 1 << 5
	FeatExtArg         = 1 << 8
	FeatNativeWorkers  = 1 << 9
	FeatCQESkip        = 1 << 11
	FeatRecvSendBundle = 1 << 14
)

// io_uring_enter flags.
const (
	EnterGetEvents      = 1 << 0
	EnterExtArg         = 1 << 3
	EnterRegisteredRing = 1 << 4
)

// SQ ring flags.
const (
	SQNeedWakeup = 1 << 0
	SQCQOverflow = 1 << 1
	SQTaskrun    = 1 << 2
)

// SQE flags.
const (
	SQEFixedFile      = 1 << 0
	SQEIOLink         = 1 << 2
	SQEAsync          = 1 << 4
	SQEBufferSelect   = 1 << 5
	SQECQESkipSuccess = 1 << 6
)

// CQE flags.
const (
	CQEFBuffer       = 1 << 0
	CQEFMore         = 1 << 1
	CQEFSockNonempty = 1 << 2
	CQEBufferShift   = 16
)

// Opcodes.
const (
	OpNop         = 0
	OpPollAdd     = 6
	OpSendmsg     = 9
	OpRecvmsg     = 10
	OpTimeout     = 11
	OpAccept      = 13
	OpAsyncCancel = 14
	OpLinkTimeout = 15
	OpConnect     = 16
	OpClose       = 19
	OpRead        = 22
	OpWrite       = 23
	OpSend        = 26
	OpRecv        = 27
	OpShutdown    = 34
	OpMsgRing     = 40
)

// Per-op flags carried in SQE.Ioprio.
const (
	RecvsendPollFirst = 1 << 0
	RecvMultishot     = 1 << 1
	AcceptMultishot   = 1 << 0
)

// Cancel flags (SQE.OpFlags of OpAsyncCancel).
const (
	CancelAll = 1 << 0
	CancelFd  = 1 << 1
	CancelAny = 1 << 2
)

// TimeoutMultishot (SQE.OpFlags of OpTimeout, Linux 6.4) makes a timeout fire every
// period, count times (SQE.Off; 0: until cancelled), each firing a completion with
// CQEFMore and -ETIME.
const TimeoutMultishot = 1 << 6

// Poll flags carried in SQE.Len of OpPollAdd.
const PollAddMulti = 1 << 0

// Register opcodes.
const (
	RegisterEventfd        = 4
	RegisterProbe          = 8
	RegisterRingFds        = 20
	RegisterPbufRing       = 22
	UnregisterPbufRing     = 23
	RegisterSendMsgRing    = 31
	registerOpSupported    = 1
	RegisterUseRegistered  = 1 << 31
	msgRingData            = 0
	maxProbeOps            = 256
	sigsetSize             = 8 // _NSIG/8 on Linux
	getEventsArgSize       = uint32(unsafe.Sizeof(GetEventsArg{}))
	timespecSize           = 16
	defaultCQEntriesFactor = 2
)
