// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IVerdictConsumer} from "./IVerdictConsumer.sol";
import {MerkleTree} from "./MerkleTree.sol";
import {Model, Regions} from "./ModelTypes.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {VerdictVM} from "./VerdictVM.sol";
import {VMState} from "./VMState.sol";

/// @title ClaimManager
/// @notice Claims "model M on input X gives output Y", inference requests, and
///         the two-level bisection game that settles a challenged claim, as
///         specified in docs/spec/protocol.md. Level 1 of a game bisects over the
///         model's op boundaries, level 2 over the VM steps of the one disputed
///         op, and `VerdictVM.step` decides the last step.
/// @dev Every payout is credited to `credit` and withdrawn with `withdraw`
///      (pull payments); the only calls out are the request callback (bounded
///      gas, failure ignored) and `withdraw`'s transfer, and every function that
///      changes state holds a transient reentrancy lock.
contract ClaimManager {
    // ---------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------

    /// @notice Where a claim stands. A claim is final (`isFinal`) once it is
    ///         Finalized, or while it is Pending past its challenge deadline
    ///         with no open game.
    enum ClaimStatus {
        None,
        Pending,
        Rejected,
        Finalized
    }

    /// @notice Where a game stands.
    enum GameStatus {
        None,
        Open,
        DefenderWon,
        ChallengerWon,
        Refunded
    }

    /// @notice The two sides of a game: the claim's submitter and the challenger.
    enum Party {
        Defender,
        Challenger
    }

    /// @notice Where a request stands.
    enum RequestStatus {
        None,
        Open,
        Fulfilled,
        Cancelled
    }

    /// @notice A claim.
    /// @param modelId The registered model.
    /// @param inputHash keccak256 of the input bytes.
    /// @param initialStateHash The VM state hash at step 0, derived on-chain.
    /// @param finalStateHash The claimed halted state at step `totalSteps`.
    /// @param submitter Who posted the claim: the defender of its games.
    /// @param challengeDeadline Challenges are accepted strictly before this time.
    /// @param status See ClaimStatus.
    /// @param boundaryDepth The model's boundary table depth.
    /// @param bond The submitter's bond (96 bits hold more wei than exist).
    /// @param stake The challenge bonds of the games open against the claim;
    ///        frozen when the claim is rejected: the stake its pot is shared over.
    /// @param openGames Games against the claim not yet ended.
    /// @param lastPoint The last level-1 point, n + 1 for a model of n ops.
    /// @param potLeft Once the claim is rejected, what is not yet paid of its pot
    ///        (its bond less the burn) to the games open at its rejection.
    /// @param nextSameResult The next claim posted with the same model, input
    ///        and output, or zero.
    /// @param boundaryRoot The model's boundary table root (copied from the
    ///        registry so that a game reads it without a call).
    /// @param output The claimed output bytes.
    struct Claim {
        bytes32 modelId;
        bytes32 inputHash;
        bytes32 initialStateHash;
        bytes32 finalStateHash;
        address submitter;
        uint64 challengeDeadline;
        ClaimStatus status;
        uint8 boundaryDepth;
        uint96 bond;
        uint96 stake;
        uint32 openGames;
        uint32 lastPoint;
        uint96 potLeft;
        uint64 nextSameResult;
        bytes32 boundaryRoot;
        bytes output;
    }

    /// @notice A game: the current segment [lo, hi] (level-1 points at level 1,
    ///         steps at level 2), the agreed hash at lo and the defender's hash at
    ///         hi, and the commitment to the defender's last dissection.
    /// @param challenger Who challenged.
    /// @param status See GameStatus.
    /// @param turn The party on the move, whose clock runs.
    /// @param level 1 (op boundaries) or 2 (steps of one op).
    /// @param lastMoveAt When the last move (or the challenge) was made.
    /// @param lo Start of the segment.
    /// @param hi End of the segment.
    /// @param defenderClock Seconds the defender has left, as of `lastMoveAt`.
    /// @param challengerClock Seconds the challenger has left, as of `lastMoveAt`.
    /// @param claimId The claim challenged.
    /// @param bond The challenger's bond.
    /// @param loHash The state hash at lo, agreed by both.
    /// @param hiHash The defender's state hash at hi, disputed.
    /// @param dissection keccak256 of the hashes of the defender's last bisection.
    struct Game {
        address challenger;
        GameStatus status;
        Party turn;
        uint8 level;
        uint64 lastMoveAt;
        uint64 lo;
        uint64 hi;
        uint64 defenderClock;
        uint64 challengerClock;
        uint64 claimId;
        uint128 bond;
        bytes32 loHash;
        bytes32 hiHash;
        bytes32 dissection;
    }

    /// @notice The claims posted with one result (model, input and output), in
    ///         the order they were posted, linked by `Claim.nextSameResult`.
    /// @param first The earliest of them that `fulfil` has not found rejected:
    ///        every claim before it is Rejected.
    /// @param last The latest of them.
    struct SameResult {
        uint64 first;
        uint64 last;
    }

    /// @notice A request for an inference, with the fee for whoever fulfils it.
    struct Request {
        address requester;
        uint64 expiry;
        RequestStatus status;
        address callback;
        uint128 fee;
        bytes32 modelId;
        bytes32 inputHash;
    }

    // ---------------------------------------------------------------------
    // Constants and configuration
    // ---------------------------------------------------------------------

    /// @notice A bisection splits a segment into this many parts, posting one
    ///         hash fewer (fewer parts when the segment is shorter).
    uint256 public constant DISSECTION_DEGREE = 16;
    /// @notice Percentage of a lost bond that is burned rather than paid out,
    ///         so a party gains nothing by playing against itself.
    uint256 public constant LOSER_BOND_BURN_PERCENT = 50;
    /// @notice Gas the request callback gets.
    uint256 public constant CALLBACK_GAS_LIMIT = 200_000;
    /// @notice Gas kept back for the callback call itself and what follows it,
    ///         on top of the 64/63 of CALLBACK_GAS_LIMIT that EIP-150 requires
    ///         for the callee to receive all of it.
    uint256 public constant CALLBACK_GAS_RESERVE = 20_000;
    /// @notice Level-1 points: the initial state, op boundaries, the final state.
    uint8 public constant LEVEL_OPS = 1;
    /// @notice Level-2 points: the VM steps of one op.
    uint8 public constant LEVEL_STEPS = 2;

    /// @notice The model registry.
    ModelRegistry public immutable registry;
    /// @notice The one-step verifier.
    VerdictVM public immutable verifier;
    /// @notice Smallest bond of a claim, in wei.
    uint256 public immutable minClaimBond;
    /// @notice Smallest bond of a challenge, in wei.
    uint256 public immutable minChallengeBond;
    /// @notice Seconds after submission during which a claim can be challenged.
    uint64 public immutable challengeWindow;
    /// @notice Seconds each party of a game may spend on its moves, in all.
    uint64 public immutable clockBudget;
    /// @notice Seconds after which an unfulfilled request may be cancelled.
    uint64 public immutable requestTtl;

    // ---------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------

    /// @notice A state-changing function was entered again during a call out.
    error Reentrancy();
    /// @notice The bond sent is below the minimum.
    error BondTooSmall(uint256 sent, uint256 minimum);
    /// @notice The final state encoding is not VMState.STATE_SIZE bytes.
    error BadFinalStateLength(uint256 got);
    /// @notice The final state is not halted with exit 0 at the model's total steps.
    error NotAFinalState(uint256 status, uint256 exit, uint256 step);
    /// @notice The output bytes are not the output region of the final state.
    error BadOutputProof();
    /// @notice The claim is not pending.
    error ClaimNotPending(uint256 claimId);
    /// @notice The claim's challenge window has closed.
    error ChallengeWindowClosed(uint256 claimId);
    /// @notice The claim's challenge window is still open.
    error ChallengeWindowOpen(uint256 claimId);
    /// @notice Games against the claim are still open.
    error GamesOpen(uint256 claimId, uint256 count);
    /// @notice The claim is not final.
    error ClaimNotFinal(uint256 claimId);
    /// @notice The challenger's final state hash is the claim's.
    error SameFinalState();
    /// @notice The game is not open.
    error GameNotOpen(uint256 gameId);
    /// @notice The game's claim was rejected in another game: refund it instead.
    error ClaimRejected(uint256 claimId);
    /// @notice The game's claim is not rejected, so it cannot be refunded.
    error ClaimNotRejected(uint256 claimId);
    /// @notice The caller is not the party on the move.
    error NotYourTurn(address caller);
    /// @notice The party on the move has used up its clock.
    error ClockExpired(uint256 gameId);
    /// @notice The party on the move still has time.
    error ClockNotExpired(uint256 gameId);
    /// @notice The segment is one step: it cannot be bisected, only proven.
    error NothingToBisect(uint256 gameId);
    /// @notice The segment is longer than one step.
    error NotOneStep(uint256 gameId);
    /// @notice A bisection posted the wrong number of hashes.
    error BadHashCount(uint256 got, uint256 want);
    /// @notice The hashes are not the defender's last bisection.
    error DissectionMismatch();
    /// @notice The chosen part does not exist.
    error BadChoice(uint256 index, uint256 parts);
    /// @notice The choice narrows level 1 to one op: use chooseOp with its bounds.
    error OpBoundsRequired();
    /// @notice chooseOp was called for a choice that does not narrow level 1 to one op.
    error NotAnOpChoice();
    /// @notice A boundary step and path do not match the model's boundary table.
    error BadBoundaryProof(uint256 point);
    /// @notice No request has this id, or it is no longer open.
    error RequestNotOpen(uint256 requestId);
    /// @notice The request has not expired yet.
    error RequestNotExpired(uint256 requestId);
    /// @notice The claim is for another model or input than the request.
    error ClaimDoesNotMatch(uint256 requestId, uint256 claimId);
    /// @notice Claim `firstClaimId`, posted earlier with the same model, input
    ///         and output, is not rejected: only the earliest such claim that is
    ///         not rejected fulfils a request.
    error NotFirstClaim(uint256 claimId, uint256 firstClaimId);
    /// @notice Not enough gas was given to run the callback with its full limit.
    error InsufficientCallbackGas();
    /// @notice The caller has nothing to withdraw.
    error NothingToWithdraw();
    /// @notice Sending the withdrawal failed.
    error TransferFailed();

    // ---------------------------------------------------------------------
    // Events: one per transition (docs/spec/protocol.md §7)
    // ---------------------------------------------------------------------

    /// @notice A claim was posted.
    event ClaimSubmitted(
        uint256 indexed claimId,
        bytes32 indexed modelId,
        address indexed submitter,
        bytes input,
        bytes output,
        bytes32 initialStateHash,
        bytes32 finalStateHash,
        uint256 bond,
        uint64 challengeDeadline
    );
    /// @notice A claim became final; its bond is credited back to its submitter.
    event ClaimFinalized(uint256 indexed claimId);
    /// @notice A claim lost game `gameId`; its games still open can be refunded,
    ///         each with its share of the claim's pot.
    event ClaimRejectedBy(uint256 indexed claimId, uint256 indexed gameId);
    /// @notice A game started; the defender is on the move over [0, lastPoint].
    event GameStarted(
        uint256 indexed gameId,
        uint256 indexed claimId,
        address indexed challenger,
        bytes32 challengerFinalStateHash,
        uint256 bond,
        uint64 lastPoint
    );
    /// @notice The defender split [lo, hi] at the points `hashes` stand for.
    event Bisected(uint256 indexed gameId, uint8 level, uint64 lo, uint64 hi, bytes32[] hashes);
    /// @notice The challenger chose [lo, hi] at the same level.
    event Chosen(uint256 indexed gameId, uint8 level, uint64 lo, uint64 hi, bytes32 loHash, bytes32 hiHash);
    /// @notice The challenger chose op `op`: level 2 over steps [startStep, endStep].
    event OpChosen(
        uint256 indexed gameId, uint64 op, uint64 startStep, uint64 endStep, bytes32 loHash, bytes32 hiHash
    );
    /// @notice The one-step verifier took the state at `step` to `postStateHash`.
    event StepProven(uint256 indexed gameId, uint64 step, bytes32 postStateHash);
    /// @notice The party on the move ran out of time.
    event TimedOut(uint256 indexed gameId, Party loser);
    /// @notice A game ended with `winner` winning.
    event GameResolved(uint256 indexed gameId, uint256 indexed claimId, Party winner);
    /// @notice A game against a rejected claim ended; the challenger's bond and
    ///         its share of the claim's pot are credited.
    event GameRefunded(uint256 indexed gameId, uint256 indexed claimId);
    /// @notice Someone asked for an inference.
    event Requested(
        uint256 indexed requestId,
        bytes32 indexed modelId,
        address indexed requester,
        address callback,
        bytes input,
        uint256 fee,
        uint64 expiry
    );
    /// @notice A request was fulfilled by the first final claim of its result; its fee is
    ///         credited to the claim's submitter.
    event RequestFulfilled(uint256 indexed requestId, uint256 indexed claimId, bool callbackSucceeded);
    /// @notice An expired request was cancelled; its fee is credited back to the requester.
    event RequestCancelled(uint256 indexed requestId);
    /// @notice `account` withdrew `amount` wei of credit.
    event Withdrawn(address indexed account, uint256 amount);

    // ---------------------------------------------------------------------
    // Storage
    // ---------------------------------------------------------------------

    /// @notice Claims so far; claim ids run from 1.
    uint256 public claimCount;
    /// @notice Games so far; game ids run from 1.
    uint256 public gameCount;
    /// @notice Requests so far; request ids run from 1.
    uint256 public requestCount;
    /// @notice Wei each account can withdraw.
    mapping(address account => uint256) public credit;
    /// @notice Wei burned from lost bonds (with what rounding leaves of a shared
    ///         pot): it stays in this contract for good.
    uint256 public burned;

    mapping(uint256 claimId => Claim) private _claims;
    mapping(uint256 gameId => Game) private _games;
    mapping(uint256 requestId => Request) private _requests;
    mapping(bytes32 resultKey => SameResult) private _sameResult;
    bool private transient _locked;

    modifier nonReentrant() {
        if (_locked) revert Reentrancy();
        _locked = true;
        _;
        _locked = false;
    }

    /// @param registry_ The model registry.
    /// @param verifier_ The one-step verifier.
    /// @param minClaimBond_ Smallest claim bond, in wei.
    /// @param minChallengeBond_ Smallest challenge bond, in wei.
    /// @param challengeWindow_ Seconds a claim can be challenged.
    /// @param clockBudget_ Seconds each party of a game has for its moves.
    /// @param requestTtl_ Seconds before an unfulfilled request may be cancelled.
    constructor(
        ModelRegistry registry_,
        VerdictVM verifier_,
        uint256 minClaimBond_,
        uint256 minChallengeBond_,
        uint64 challengeWindow_,
        uint64 clockBudget_,
        uint64 requestTtl_
    ) {
        registry = registry_;
        verifier = verifier_;
        minClaimBond = minClaimBond_;
        minChallengeBond = minChallengeBond_;
        challengeWindow = challengeWindow_;
        clockBudget = clockBudget_;
        requestTtl = requestTtl_;
    }

    // ---------------------------------------------------------------------
    // Claims
    // ---------------------------------------------------------------------

    /// @notice Posts a claim, with `msg.value` as its bond.
    /// @param modelId The registered model.
    /// @param input The input tensor's bytes (the model's input length).
    /// @param output The output tensor's bytes (the model's output length).
    /// @param finalState The 177-byte encoding of the claimed final state:
    ///        halted, exit 0, at the model's total step count.
    /// @param inputPath The input region's siblings in the image (ModelRegistered).
    /// @param outputPath The output region's siblings in the final state's memory.
    /// @return claimId The new claim.
    function submit(
        bytes32 modelId,
        bytes calldata input,
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata inputPath,
        bytes32[] calldata outputPath
    ) external payable nonReentrant returns (uint256 claimId) {
        if (msg.value < minClaimBond) revert BondTooSmall(msg.value, minClaimBond);
        Model memory m = registry.model(modelId);
        bytes32 initialStateHash = _initialStateHash(m, input, inputPath);
        bytes32 finalStateHash = _checkFinalState(m, output, finalState, outputPath);
        claimId = ++claimCount;
        Claim storage c = _claims[claimId];
        c.modelId = modelId;
        bytes32 inputHash = keccak256(input);
        c.inputHash = inputHash;
        c.initialStateHash = initialStateHash;
        c.finalStateHash = finalStateHash;
        c.submitter = msg.sender;
        uint64 deadline = uint64(block.timestamp) + challengeWindow;
        c.challengeDeadline = deadline;
        c.status = ClaimStatus.Pending;
        c.bond = uint96(msg.value);
        c.lastPoint = m.opCount + 1;
        c.boundaryDepth = m.boundaryDepth;
        c.boundaryRoot = m.boundaryRoot;
        c.output = output;
        SameResult storage same = _sameResult[_resultKey(modelId, inputHash, output)];
        if (same.last == 0) same.first = uint64(claimId);
        else _claims[same.last].nextSameResult = uint64(claimId);
        same.last = uint64(claimId);
        emit ClaimSubmitted(
            claimId, modelId, msg.sender, input, output, initialStateHash, finalStateHash, msg.value, deadline
        );
    }

    /// @notice Ends a claim's life as final: after its challenge window, with no
    ///         open game and none lost. Credits its bond back. Anyone may call.
    function finalize(uint256 claimId) external nonReentrant {
        Claim storage c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(claimId);
        if (block.timestamp < c.challengeDeadline) revert ChallengeWindowOpen(claimId);
        if (c.openGames != 0) revert GamesOpen(claimId, c.openGames);
        _finalize(claimId, c);
    }

    /// @notice Whether claim `claimId` is final: Finalized, or Pending past its
    ///         challenge deadline with no open game (no game can start any more).
    function isFinal(uint256 claimId) public view returns (bool) {
        Claim storage c = _claims[claimId];
        return c.status == ClaimStatus.Finalized
            || (c.status == ClaimStatus.Pending && block.timestamp >= c.challengeDeadline && c.openGames == 0);
    }

    /// @notice The output of the final claim `claimId`; reverts with
    ///         ClaimNotFinal unless `isFinal(claimId)`.
    function resultOf(uint256 claimId) external view returns (bytes memory) {
        if (!isFinal(claimId)) revert ClaimNotFinal(claimId);
        return _claims[claimId].output;
    }

    /// @notice The claim `claimId`.
    function getClaim(uint256 claimId) external view returns (Claim memory) {
        return _claims[claimId];
    }

    /// @notice The earliest claim posted with the model, input and output of
    ///         claim `claimId` that is not rejected (zero if all are): the only
    ///         one of them that `fulfil` accepts, once it is final.
    function firstClaimOf(uint256 claimId) external view returns (uint256 first) {
        Claim storage c = _claims[claimId];
        first = _sameResult[_resultKey(c.modelId, c.inputHash, c.output)].first;
        while (first != 0 && _claims[first].status == ClaimStatus.Rejected) {
            first = _claims[first].nextSameResult;
        }
    }

    // ---------------------------------------------------------------------
    // The dispute game
    // ---------------------------------------------------------------------

    /// @notice Challenges claim `claimId` with `msg.value` as bond and the
    ///         challenger's own final state hash. Opens a game, level 1, over
    ///         [0, n + 1]; the defender is on the move.
    /// @return gameId The new game.
    function challenge(uint256 claimId, bytes32 finalStateHash)
        external
        payable
        nonReentrant
        returns (uint256 gameId)
    {
        Claim storage c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(claimId);
        if (block.timestamp >= c.challengeDeadline) revert ChallengeWindowClosed(claimId);
        if (msg.value < minChallengeBond) revert BondTooSmall(msg.value, minChallengeBond);
        if (finalStateHash == c.finalStateHash) revert SameFinalState();
        c.openGames += 1;
        c.stake += uint96(msg.value);
        gameId = ++gameCount;
        Game storage g = _games[gameId];
        g.challenger = msg.sender;
        g.status = GameStatus.Open;
        g.turn = Party.Defender;
        g.level = LEVEL_OPS;
        g.lastMoveAt = uint64(block.timestamp);
        g.hi = c.lastPoint;
        g.defenderClock = clockBudget;
        g.challengerClock = clockBudget;
        g.claimId = uint64(claimId);
        g.bond = uint128(msg.value);
        g.loHash = c.initialStateHash;
        g.hiHash = c.finalStateHash;
        emit GameStarted(gameId, claimId, msg.sender, finalStateHash, msg.value, c.lastPoint);
    }

    /// @notice The defender splits the segment [lo, hi] into
    ///         `parts = min(DISSECTION_DEGREE, hi - lo)` parts, posting the state
    ///         hashes at the inner points `lo + (hi - lo) * i / parts`, i = 1 ..
    ///         parts - 1. The challenger is then on the move.
    function bisect(uint256 gameId, bytes32[] calldata hashes) external nonReentrant {
        Game storage g = _move(gameId, Party.Defender);
        uint256 length = g.hi - g.lo;
        if (g.level == LEVEL_STEPS && length == 1) revert NothingToBisect(gameId);
        uint256 want = _parts(length) - 1;
        if (hashes.length != want) revert BadHashCount(hashes.length, want);
        g.dissection = keccak256(abi.encodePacked(hashes));
        g.turn = Party.Challenger;
        emit Bisected(gameId, g.level, g.lo, g.hi, hashes);
    }

    /// @notice The challenger picks part `index` of the defender's last
    ///         bisection (`hashes`, as posted): the first part whose end it
    ///         disputes. The defender is then on the move.
    function choose(uint256 gameId, bytes32[] calldata hashes, uint256 index) external nonReentrant {
        Game storage g = _move(gameId, Party.Challenger);
        (uint64 lo, uint64 hi, bytes32 loHash, bytes32 hiHash) = _part(g, hashes, index);
        if (g.level == LEVEL_OPS && hi - lo == 1) revert OpBoundsRequired();
        (g.lo, g.hi, g.loHash, g.hiHash) = (lo, hi, loHash, hiHash);
        g.turn = Party.Defender;
        emit Chosen(gameId, g.level, lo, hi, loHash, hiHash);
    }

    /// @notice As `choose`, for the choice at level 1 that leaves one op, `op`:
    ///         the challenger proves the op's first and last steps against the
    ///         model's boundary table and the game goes on at level 2 over them.
    /// @param startStep The step of point `op`.
    /// @param startPath Its path in the boundary table.
    /// @param endStep The step of point `op + 1`.
    /// @param endPath Its path in the boundary table.
    function chooseOp(
        uint256 gameId,
        bytes32[] calldata hashes,
        uint256 index,
        uint64 startStep,
        bytes32[] calldata startPath,
        uint64 endStep,
        bytes32[] calldata endPath
    ) external nonReentrant {
        Game storage g = _move(gameId, Party.Challenger);
        (uint64 op, uint64 next, bytes32 loHash, bytes32 hiHash) = _part(g, hashes, index);
        if (g.level != LEVEL_OPS || next - op != 1) revert NotAnOpChoice();
        Claim storage c = _claims[g.claimId];
        _checkBoundary(c, op, startStep, startPath);
        _checkBoundary(c, next, endStep, endPath);
        (g.level, g.lo, g.hi, g.loHash, g.hiHash) = (LEVEL_STEPS, startStep, endStep, loHash, hiHash);
        g.turn = Party.Defender;
        emit OpChosen(gameId, op, startStep, endStep, loHash, hiHash);
    }

    /// @notice Decides a game narrowed to one step: runs `VerdictVM.step` on
    ///         `proof`, a step proof of the agreed state at lo. The defender wins
    ///         if the post-state is its hash at hi, the challenger otherwise.
    ///         Anyone may call while the defender, on the move, has time left:
    ///         the outcome does not depend on who proves.
    function proveStep(uint256 gameId, bytes calldata proof) external nonReentrant {
        Game storage g = _open(gameId);
        if (g.level != LEVEL_STEPS || g.hi - g.lo != 1) revert NotOneStep(gameId);
        if (_expired(g)) revert ClockExpired(gameId);
        bytes32 post = verifier.step(g.loHash, proof);
        emit StepProven(gameId, g.lo, post);
        _resolve(gameId, g, post == g.hiHash ? Party.Defender : Party.Challenger);
    }

    /// @notice Ends a game whose party on the move has run out of time: that
    ///         party loses. Anyone may call.
    function timeout(uint256 gameId) external nonReentrant {
        Game storage g = _open(gameId);
        if (!_expired(g)) revert ClockNotExpired(gameId);
        Party loser = g.turn;
        emit TimedOut(gameId, loser);
        _resolve(gameId, g, loser == Party.Defender ? Party.Challenger : Party.Defender);
    }

    /// @notice Ends a game still open against a claim that another game
    ///         rejected, crediting the challenger its bond back and its share of
    ///         the claim's pot. Anyone may call.
    function refund(uint256 gameId) external nonReentrant {
        Game storage g = _games[gameId];
        if (g.status != GameStatus.Open) revert GameNotOpen(gameId);
        Claim storage c = _claims[g.claimId];
        if (c.status != ClaimStatus.Rejected) revert ClaimNotRejected(g.claimId);
        g.status = GameStatus.Refunded;
        c.openGames -= 1;
        c.potLeft = uint96(_payShare(c, g, c.potLeft));
        emit GameRefunded(gameId, g.claimId);
    }

    /// @notice The game `gameId`.
    function getGame(uint256 gameId) external view returns (Game memory) {
        return _games[gameId];
    }

    // ---------------------------------------------------------------------
    // Requests
    // ---------------------------------------------------------------------

    /// @notice Asks for model `modelId` on `input`, with `msg.value` as the fee
    ///         for whoever fulfils it; `callback` (or zero for none) is called as
    ///         IVerdictConsumer when it is.
    /// @return requestId The new request.
    function request(bytes32 modelId, bytes calldata input, address callback)
        external
        payable
        nonReentrant
        returns (uint256 requestId)
    {
        Model memory m = registry.model(modelId);
        Regions.contentRoot(m.input, Regions.height(m.input), input);
        requestId = ++requestCount;
        uint64 expiry = uint64(block.timestamp) + requestTtl;
        _requests[requestId] = Request({
            requester: msg.sender,
            expiry: expiry,
            status: RequestStatus.Open,
            callback: callback,
            fee: uint128(msg.value),
            modelId: modelId,
            inputHash: keccak256(input)
        });
        emit Requested(requestId, modelId, msg.sender, callback, input, msg.value, expiry);
    }

    /// @notice Fulfils open request `requestId` with the final claim `claimId`
    ///         for the same model and input, which must be the earliest claim
    ///         posted with its output that is not rejected (`firstClaimOf`), so
    ///         that a later copy of it earns nothing: finalizes the claim if it
    ///         is not yet, credits the fee to the claim's submitter, then calls
    ///         the callback with CALLBACK_GAS_LIMIT gas, ignoring how it ends.
    ///         Anyone may call, with enough gas for the callback's full limit.
    function fulfil(uint256 requestId, uint256 claimId) external nonReentrant {
        Request storage r = _requests[requestId];
        if (r.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (!isFinal(claimId)) revert ClaimNotFinal(claimId);
        Claim storage c = _claims[claimId];
        if (c.modelId != r.modelId || c.inputHash != r.inputHash) {
            revert ClaimDoesNotMatch(requestId, claimId);
        }
        bytes memory output = c.output;
        _requireFirst(claimId, _sameResult[_resultKey(c.modelId, c.inputHash, output)]);
        if (c.status == ClaimStatus.Pending) _finalize(claimId, c);
        r.status = RequestStatus.Fulfilled;
        credit[c.submitter] += r.fee;
        bool ok = true;
        if (r.callback != address(0)) {
            ok = _callBack(r.callback, abi.encodeCall(IVerdictConsumer.onVerdict, (requestId, claimId, output)));
        }
        emit RequestFulfilled(requestId, claimId, ok);
    }

    /// @notice Cancels an expired open request, crediting its fee back to the
    ///         requester. Anyone may call.
    function cancelRequest(uint256 requestId) external nonReentrant {
        Request storage r = _requests[requestId];
        if (r.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (block.timestamp < r.expiry) revert RequestNotExpired(requestId);
        r.status = RequestStatus.Cancelled;
        credit[r.requester] += r.fee;
        emit RequestCancelled(requestId);
    }

    /// @notice The request `requestId`.
    function getRequest(uint256 requestId) external view returns (Request memory) {
        return _requests[requestId];
    }

    // ---------------------------------------------------------------------
    // Payments
    // ---------------------------------------------------------------------

    /// @notice Sends the caller all its credit.
    function withdraw() external nonReentrant {
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credit[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
        emit Withdrawn(msg.sender, amount);
    }

    // ---------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------

    /// @dev The initial state hash of `m` on `input`: the image root with the
    ///      input region's zero subtree replaced by the input's subtree root.
    function _initialStateHash(Model memory m, bytes calldata input, bytes32[] calldata inputPath)
        private
        pure
        returns (bytes32)
    {
        uint256 h = Regions.height(m.input);
        Regions.checkZeroInput(m.input, h, m.imageRoot, inputPath);
        uint256 root = uint256(Regions.rootWith(m.input, h, Regions.contentRoot(m.input, h, input), inputPath));
        return VMState.initialStateHash(root);
    }

    /// @dev Checks that `finalState` is a final state of `m` whose output region
    ///      holds `output`, and returns its hash.
    function _checkFinalState(
        Model memory m,
        bytes calldata output,
        bytes calldata finalState,
        bytes32[] calldata outputPath
    ) private pure returns (bytes32) {
        if (finalState.length != VMState.STATE_SIZE) revert BadFinalStateLength(finalState.length);
        uint256 p;
        assembly ("memory-safe") {
            p := finalState.offset
        }
        (uint256 status, uint256 exit, uint256 step) = (VMState.status(p), VMState.exitCode(p), VMState.stepCount(p));
        if (status != VMState.STATUS_HALTED || exit != 0 || step != m.totalSteps) {
            revert NotAFinalState(status, exit, step);
        }
        uint256 h = Regions.height(m.output);
        bytes32 root = Regions.rootWith(m.output, h, Regions.contentRoot(m.output, h, output), outputPath);
        if (uint256(root) != VMState.memRoot(p)) revert BadOutputProof();
        return keccak256(finalState);
    }

    /// @dev Marks a claim final and credits its bond back.
    function _finalize(uint256 claimId, Claim storage c) private {
        c.status = ClaimStatus.Finalized;
        credit[c.submitter] += c.bond;
        emit ClaimFinalized(claimId);
    }

    /// @dev The key of a result: a model, an input and an output.
    function _resultKey(bytes32 modelId, bytes32 inputHash, bytes memory output) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(modelId, inputHash, output));
    }

    /// @dev Checks that claim `claimId`, one of `same`, is the earliest of them
    ///      that is not rejected, moving `same.first` past the rejected ones.
    function _requireFirst(uint256 claimId, SameResult storage same) private {
        uint256 first = same.first;
        uint256 from = first;
        while (first != claimId) {
            Claim storage e = _claims[first];
            if (e.status != ClaimStatus.Rejected) revert NotFirstClaim(claimId, first);
            first = e.nextSameResult;
        }
        if (first != from) same.first = uint64(first);
    }

    /// @dev The open game `gameId`, whose claim is not rejected.
    function _open(uint256 gameId) private view returns (Game storage g) {
        g = _games[gameId];
        if (g.status != GameStatus.Open) revert GameNotOpen(gameId);
        if (_claims[g.claimId].status == ClaimStatus.Rejected) revert ClaimRejected(g.claimId);
    }

    /// @dev Starts a move by `party` in game `gameId`: checks the game is open,
    ///      the caller is `party` and on the move with time left, and charges the
    ///      time since the last move to its clock.
    function _move(uint256 gameId, Party party) private returns (Game storage g) {
        g = _open(gameId);
        address mover = party == Party.Defender ? _claims[g.claimId].submitter : g.challenger;
        if (g.turn != party || msg.sender != mover) revert NotYourTurn(msg.sender);
        if (_expired(g)) revert ClockExpired(gameId);
        uint64 elapsed = uint64(block.timestamp) - g.lastMoveAt;
        if (party == Party.Defender) g.defenderClock -= elapsed;
        else g.challengerClock -= elapsed;
        g.lastMoveAt = uint64(block.timestamp);
    }

    /// @dev Whether the party on the move has spent more than its clock.
    function _expired(Game storage g) private view returns (bool) {
        uint256 left = g.turn == Party.Defender ? g.defenderClock : g.challengerClock;
        return block.timestamp - g.lastMoveAt > left;
    }

    /// @dev Parts of a bisection of a segment of `length`.
    function _parts(uint256 length) private pure returns (uint256) {
        return length < DISSECTION_DEGREE ? length : DISSECTION_DEGREE;
    }

    /// @dev Part `index` of the defender's last bisection of `g`'s segment, which
    ///      posted `hashes`: its bounds and the hashes at them.
    function _part(Game storage g, bytes32[] calldata hashes, uint256 index)
        private
        view
        returns (uint64 lo, uint64 hi, bytes32 loHash, bytes32 hiHash)
    {
        if (keccak256(abi.encodePacked(hashes)) != g.dissection) revert DissectionMismatch();
        uint256 start = g.lo;
        uint256 length = g.hi - start;
        uint256 parts = hashes.length + 1;
        if (index >= parts) revert BadChoice(index, parts);
        lo = uint64(start + length * index / parts);
        hi = uint64(start + length * (index + 1) / parts);
        loHash = index == 0 ? g.loHash : hashes[index - 1];
        hiHash = index == parts - 1 ? g.hiHash : hashes[index];
    }

    /// @dev Checks `step` against entry `point` of the boundary table of `c`'s model.
    function _checkBoundary(Claim storage c, uint256 point, uint64 step, bytes32[] calldata path)
        private
        view
    {
        uint256 offset;
        assembly ("memory-safe") {
            offset := path.offset
        }
        if (
            path.length != c.boundaryDepth
                || bytes32(MerkleTree.fold(step, point, offset, path.length)) != c.boundaryRoot
        ) {
            revert BadBoundaryProof(point);
        }
    }

    /// @dev Ends game `g` with `winner` winning. A defender's win credits it
    ///      the challenger's bond less LOSER_BOND_BURN_PERCENT burned. A
    ///      challenger's win rejects the claim: its bond less the burn is the
    ///      pot, shared over the games open against the claim (this one
    ///      included) pro rata to their bonds, and this game is paid its share.
    function _resolve(uint256 gameId, Game storage g, Party winner) private {
        uint256 claimId = g.claimId;
        Claim storage c = _claims[claimId];
        c.openGames -= 1;
        if (winner == Party.Defender) {
            g.status = GameStatus.DefenderWon;
            c.stake -= uint96(g.bond);
            uint256 lost = g.bond;
            credit[c.submitter] += lost - _burn(lost);
        } else {
            g.status = GameStatus.ChallengerWon;
            c.status = ClaimStatus.Rejected;
            uint256 lost = c.bond;
            uint256 left = _payShare(c, g, lost - _burn(lost));
            if (left != 0) c.potLeft = uint96(left);
            emit ClaimRejectedBy(claimId, gameId);
        }
        emit GameResolved(gameId, claimId, winner);
    }

    /// @dev Pays game `g`, open against the rejected claim `c` when `c` was
    ///      rejected and already counted out of `c.openGames`: credits its
    ///      challenger its bond and its share of the pot, `pot · bond / stake`
    ///      rounded down, out of `left`, what is unpaid of the pot; returns what
    ///      then is. The last of those games burns what rounding left.
    function _payShare(Claim storage c, Game storage g, uint256 left) private returns (uint256) {
        uint256 bond = c.bond;
        uint256 stake = c.stake;
        uint256 share = stake == 0 ? 0 : (bond - _burnOf(bond)) * g.bond / stake;
        left -= share;
        if (c.openGames == 0) {
            burned += left;
            left = 0;
        }
        credit[g.challenger] += g.bond + share;
        return left;
    }

    /// @dev Burns LOSER_BOND_BURN_PERCENT of a lost bond and returns the amount burned.
    function _burn(uint256 lost) private returns (uint256 amount) {
        amount = _burnOf(lost);
        burned += amount;
    }

    /// @dev LOSER_BOND_BURN_PERCENT of a lost bond, rounded down.
    function _burnOf(uint256 lost) private pure returns (uint256) {
        return lost * LOSER_BOND_BURN_PERCENT / 100;
    }

    /// @dev Calls `target` with `data` and CALLBACK_GAS_LIMIT gas, copying no
    ///      return data (so a large one costs the caller nothing); requires gas
    ///      enough that the callee really gets its limit.
    function _callBack(address target, bytes memory data) private returns (bool ok) {
        if (gasleft() < CALLBACK_GAS_LIMIT * 64 / 63 + CALLBACK_GAS_RESERVE) revert InsufficientCallbackGas();
        uint256 limit = CALLBACK_GAS_LIMIT;
        assembly ("memory-safe") {
            ok := call(limit, target, 0, add(data, 32), mload(data), 0, 0)
        }
    }
}
